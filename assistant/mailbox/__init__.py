"""The shared mailbox: reading mails from IMAP (client, fetch, poller), what kind a mail is, its readable text."""
