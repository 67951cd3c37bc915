"""The evaluation set and the release gate: run a prompt version over human-rated cases, compare it with
production and with the accepted baseline, and write a report people can read."""
