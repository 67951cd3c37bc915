"""The ticket flow, one module per stage:

``intake`` (a ticket arrives with its drafting job) → ``drafting`` (the job: categorise, draft, save) →
``review`` (a person edits, approves, rejects, rates, corrects) → ``sending`` (outbox, delivery with leases and
backoff, the periodic ``deliver_due`` job). ``state`` holds the statuses and the allowed moves, ``queries`` the
reads (one get-or-404 per kind) and JSON views, ``records`` what the audit log keeps of a text.

None of these modules knows the container (``assistant.services``): each takes the parts it uses.
"""
