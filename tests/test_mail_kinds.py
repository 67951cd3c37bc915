"""What kind a mail is (assistant/mailbox/kinds.py), on mails as Postfix, Exchange, Gmail and Outlook send them: a
bounce names our mail that came back and why, a delayed delivery or an out-of-office is an auto-reply, and a
customer's mail stays a mail even when it looks a bit like a robot's."""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage

import pytest

from assistant.mailbox.kinds import MailKind, kind_of


def parsed(raw: str) -> EmailMessage:
    message = email.message_from_bytes(raw.replace("\n", "\r\n").encode(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


POSTFIX = """Return-Path: <>
Received: by mx.example.net (Postfix) id 4F1A2; Mon,  3 Mar 2025 10:00:05 +0100 (CET)
Date: Mon,  3 Mar 2025 10:00:05 +0100 (CET)
From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: kundenservice@kochwerk-lindner.de
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
	boundary="4F1A2.1740992405/mx.example.net"
Message-Id: <20250303090005.9B3C1@mx.example.net>

This is a MIME-encapsulated message.

--4F1A2.1740992405/mx.example.net
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.example.net.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<erika@example.org>: host mail.example.org[203.0.113.5] said: 550 5.1.1
    <erika@example.org>: Recipient address rejected: User unknown in virtual
    mailbox table (in reply to RCPT TO command)

--4F1A2.1740992405/mx.example.net
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net
X-Postfix-Queue-ID: 4F1A2
X-Postfix-Sender: rfc822; kundenservice@kochwerk-lindner.de
Arrival-Date: Mon,  3 Mar 2025 10:00:04 +0100 (CET)

Final-Recipient: rfc822; erika@example.org
Original-Recipient: rfc822;erika@example.org
Action: failed
Status: 5.1.1
Remote-MTA: dns; mail.example.org
Diagnostic-Code: smtp; 550 5.1.1 <erika@example.org>: Recipient address rejected:
    User unknown in virtual mailbox table

--4F1A2.1740992405/mx.example.net
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

Return-Path: <kundenservice@kochwerk-lindner.de>
From: Kochwerk Lindner <kundenservice@kochwerk-lindner.de>
To: erika@example.org
Subject: Re: Pfanne [#42]
Message-ID: <kontor.42.1@kochwerk-lindner.de>
In-Reply-To: <m1@example.org>

--4F1A2.1740992405/mx.example.net--
"""

EXCHANGE = """From: Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@contoso.com>
To: <kundenservice@kochwerk-lindner.de>
Date: Mon, 3 Mar 2025 09:00:07 +0000
Content-Type: multipart/report; report-type=delivery-status;
	boundary="b1_ndr"
MIME-Version: 1.0
Message-ID: <a9f0b3c2-ndr@contoso.com>
Subject: Unzustellbar: Re: Pfanne [#42]
Auto-Submitted: auto-replied
X-MS-Exchange-Message-Is-Ndr:

--b1_ndr
Content-Type: multipart/alternative; boundary="b2_alt"

--b2_alt
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: quoted-printable

Ihre Nachricht hat max.mustermann@contoso.com nicht erreicht.

--b2_alt
Content-Type: text/html; charset="utf-8"

<html><body><p>Ihre Nachricht hat max.mustermann@contoso.com nicht erreicht.</p></body></html>
--b2_alt--

--b1_ndr
Content-Type: message/delivery-status

Reporting-MTA: dns;AM0PR01MB1234.eurprd01.prod.exchangelabs.com
Received-From-MTA: dns;mail.kochwerk-lindner.de
Arrival-Date: Mon, 3 Mar 2025 09:00:06 +0000

Original-Recipient: rfc822;max.mustermann@contoso.com
Final-Recipient: rfc822;max.mustermann@contoso.com
Action: failed
Status: 5.1.10
Diagnostic-Code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup

--b1_ndr
Content-Type: message/rfc822

From: Kochwerk Lindner <kundenservice@kochwerk-lindner.de>
To: max.mustermann@contoso.com
Subject: Re: Pfanne [#42]
Message-ID: <kontor.43.1@kochwerk-lindner.de>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Guten Tag, Ihre Pfanne ist unterwegs.

--b1_ndr--
"""

GMAIL = """Delivered-To: kundenservice@kochwerk-lindner.de
Return-Path: <>
From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: kundenservice@kochwerk-lindner.de
Auto-Submitted: auto-replied
Subject: Delivery Status Notification (Failure)
References: <kontor.44.1@kochwerk-lindner.de>
In-Reply-To: <kontor.44.1@kochwerk-lindner.de>
X-Failed-Recipients: nobody.here@gmail.com
Message-ID: <67c5ab12.abc.gmail-bounce@mx.google.com>
Date: Mon, 03 Mar 2025 01:00:09 -0800 (PST)
MIME-Version: 1.0
Content-Type: multipart/report; boundary="000000000000a1b2c3"; report-type=delivery-status

--000000000000a1b2c3
Content-Type: text/plain; charset="UTF-8"

** Die Adresse wurde nicht gefunden **

--000000000000a1b2c3
Content-Type: message/delivery-status

Reporting-MTA: dns; googlemail.com
Arrival-Date: Mon, 03 Mar 2025 01:00:08 -0800 (PST)
X-Original-Message-ID: <kontor.44.1@kochwerk-lindner.de>

Final-Recipient: rfc822; nobody.here@gmail.com
Action: failed
Status: 5.1.1
Remote-MTA: dns; gmail-smtp-in.l.google.com. (2a00:1450:400c:c0b::1a, the server
 for the domain gmail.com.)
Diagnostic-Code: smtp; 550-5.1.1 The email account that you tried to reach does
 not exist. Please try 550-5.1.1 double-checking the recipient's email address for
 typos or 550-5.1.1 unnecessary spaces. For more information, go to 550 5.1.1
  https://support.google.com/mail/?p=NoSuchUser a1si1234567wrb.12 - gsmtp
Last-Attempt-Date: Mon, 03 Mar 2025 01:00:09 -0800 (PST)

--000000000000a1b2c3
Content-Type: message/rfc822

From: kundenservice@kochwerk-lindner.de
To: nobody.here@gmail.com
Subject: Re: Versand [#44]
Message-ID: <kontor.44.1@kochwerk-lindner.de>

Guten Tag!

--000000000000a1b2c3--
"""

DELAYED = POSTFIX.replace("Undelivered Mail Returned to Sender", "Delayed Mail (still being retried)").replace(
    "Action: failed\nStatus: 5.1.1", "Action: delayed\nStatus: 4.4.1").replace(
    "Diagnostic-Code: smtp; 550 5.1.1 <erika@example.org>: Recipient address rejected:\n"
    "    User unknown in virtual mailbox table", "Will-Retry-Until: Fri, 7 Mar 2025 10:00:04 +0100 (CET)")

OUTLOOK_AWAY = """From: Max Mustermann <max.mustermann@contoso.com>
To: Kochwerk Lindner <kundenservice@kochwerk-lindner.de>
Subject: Automatische Antwort: Re: Pfanne [#42]
Thread-Topic: Re: Pfanne [#42]
Date: Mon, 3 Mar 2025 09:00:07 +0000
Message-ID: <AM0PR01MB1234ABCD@AM0PR01MB1234.eurprd01.prod.exchangelabs.com>
In-Reply-To: <kontor.42.1@kochwerk-lindner.de>
Auto-Submitted: auto-generated
X-Auto-Response-Suppress: All
X-MS-Exchange-Inbox-Rules-Loop: max.mustermann@contoso.com
Content-Type: text/plain; charset="iso-8859-1"
MIME-Version: 1.0

Vielen Dank für Ihre Nachricht. Ich bin bis zum 10. März nicht im Büro.
"""

CUSTOMER = """From: Erika Muster <erika@example.org>
To: kundenservice@kochwerk-lindner.de
Subject: AW: Pfanne [#42]
Date: Mon, 3 Mar 2025 11:00:00 +0100
Message-ID: <m2@example.org>
In-Reply-To: <kontor.42.1@kochwerk-lindner.de>
X-Auto-Response-Suppress: All
X-Mailer: Microsoft Outlook 16.0
Content-Type: text/plain; charset="utf-8"
MIME-Version: 1.0

Guten Tag, danke! Ihre Antwort kam übrigens erst nach meiner Abwesenheitsnotiz an.

-----Ursprüngliche Nachricht-----
Betreff: Abwesenheitsnotiz: Pfanne
Automatische Antwort: ich bin nicht da.
"""


def test_a_postfix_bounce_names_our_mail_and_the_reason() -> None:
    kind = kind_of(parsed(POSTFIX))
    assert kind == MailKind("bounce", kind.reason, "<kontor.42.1@kochwerk-lindner.de>",
                            "550 5.1.1 <erika@example.org>: Recipient address rejected: User unknown in virtual "
                            "mailbox table")
    assert kind.reason.startswith("Unzustellbar: 550 5.1.1") and "\n" not in kind.reason


def test_an_exchange_ndr_with_the_returned_message() -> None:
    kind = kind_of(parsed(EXCHANGE))
    assert (kind.kind, kind.bounced_message_id) == ("bounce", "<kontor.43.1@kochwerk-lindner.de>")
    assert kind.bounce_reason == ("550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address "
                                  "lookup")


def test_a_gmail_bounce_in_one_line() -> None:
    kind = kind_of(parsed(GMAIL))
    assert (kind.kind, kind.bounced_message_id) == ("bounce", "<kontor.44.1@kochwerk-lindner.de>")
    assert kind.bounce_reason == (
        "550 5.1.1 The email account that you tried to reach does not exist. Please try double-checking the "
        "recipient's email address for typos or unnecessary spaces. For more information, go to "
        "https://support.google.com/mail/?p=NoSuchUser a1si1234567wrb.12 - gsmtp")


def test_a_bounce_without_a_diagnostic_code_says_the_status() -> None:
    raw = POSTFIX.replace("Diagnostic-Code: smtp; 550 5.1.1 <erika@example.org>: Recipient address rejected:\n"
                          "    User unknown in virtual mailbox table\n", "")
    kind = kind_of(parsed(raw))
    assert (kind.kind, kind.bounce_reason) == ("bounce", "5.1.1 (Empfängeradresse unbekannt)")


def test_a_bounce_from_the_mailer_daemon_without_the_report_type() -> None:
    raw = POSTFIX.replace("multipart/report; report-type=delivery-status;", "multipart/mixed;")
    kind = kind_of(parsed(raw))
    assert (kind.kind, kind.bounced_message_id) == ("bounce", "<kontor.42.1@kochwerk-lindner.de>")
    assert kind.bounce_reason is not None and kind.bounce_reason.startswith("550 5.1.1")


def test_a_delayed_delivery_is_an_auto_reply_not_a_failure() -> None:
    kind = kind_of(parsed(DELAYED))
    assert (kind.kind, kind.bounced_message_id, kind.bounce_reason) == ("auto_reply", None, None)
    assert "verzögert" in kind.reason


def test_an_outlook_out_of_office_is_an_auto_reply() -> None:
    assert kind_of(parsed(OUTLOOK_AWAY)).kind == "auto_reply"
    without_headers = OUTLOOK_AWAY.replace("Auto-Submitted: auto-generated\n", "").replace(
        "X-Auto-Response-Suppress: All\n", "")
    kind = kind_of(parsed(without_headers))  # some Exchange set-ups: only the German subject says it
    assert (kind.kind, kind.reason) == ("auto_reply", "Abwesenheitsnotiz (Betreff)")
    assert kind_of(parsed(without_headers.replace("Automatische Antwort:", "Abwesenheitsnotiz:"))).kind == "auto_reply"


@pytest.mark.parametrize(("headers", "kind"), [
    ("Auto-Submitted: auto-replied", "auto_reply"),
    ("Auto-Submitted: auto-generated; owner-email=\"it@example.org\"", "auto_reply"),
    ("Auto-Submitted: no", "mail"),
    ("X-Autoreply: yes", "auto_reply"),
    ("X-Autorespond: Urlaub", "auto_reply"),
    ("Precedence: bulk\nList-Unsubscribe: <https://news.example.org/ab>", "auto_reply"),  # a newsletter
    ("Precedence: junk", "auto_reply"),
    ("Precedence: auto_reply", "auto_reply"),
    ("Precedence: list\nList-Id: <service.kochwerk-lindner.de>", "mail"),  # the service address as a Google Group
    ("List-Unsubscribe: <mailto:unsub@crm.example.org>\nList-Id: <crm.example.org>", "mail"),  # a CRM's one-to-one
    ("X-Auto-Response-Suppress: All", "mail"),  # Outlook sets it on ordinary mails
])
def test_header_signals(headers: str, kind: str) -> None:
    raw = CUSTOMER.replace("X-Auto-Response-Suppress: All\n", "").replace("Subject: AW: Pfanne [#42]\n",
                                                                           f"Subject: Pfanne\n{headers}\n")
    assert kind_of(parsed(raw)).kind == kind


@pytest.mark.parametrize(("subject", "hint", "kind"), [
    ("Out of Office: Pfanne", "X-Auto-Response-Suppress: All", "auto_reply"),
    ("Automatic reply: Pfanne", "Return-Path: <>", "auto_reply"),
    ("Autoreply: Pfanne", "Precedence: list", "auto_reply"),
    ("Out of office – ist meine Bestellung verloren?", "", "mail"),  # a customer's words, no header hint
    ("Automatische Antwort fehlt nach meiner Bestellung", "", "mail"),  # not Outlook's "Automatische Antwort:"
    ("AW: Abwesenheitsnotiz: Pfanne", "X-Auto-Response-Suppress: All", "mail"),  # a person answering one
])
def test_subjects(subject: str, hint: str, kind: str) -> None:
    raw = CUSTOMER.replace("X-Auto-Response-Suppress: All\n", f"{hint}\n" if hint else "").replace(
        "Subject: AW: Pfanne [#42]", f"Subject: {subject}")
    assert kind_of(parsed(raw)).kind == kind


def test_a_customers_mail_stays_a_mail() -> None:
    kind = kind_of(parsed(CUSTOMER))  # no Precedence; quotes "Abwesenheitsnotiz" and "Automatische Antwort"
    assert kind == MailKind("mail", "Kundenmail")
    assert kind_of(parsed(CUSTOMER.replace("From: Erika Muster <erika@example.org>", "From: postmaster@example.org"))
                   ).kind == "mail"  # a person may write as postmaster; only a returned mail makes it a bounce


def test_a_mailer_daemon_message_without_a_report_is_no_ticket() -> None:
    raw = ("From: MAILER-DAEMON@mail.example.net\nTo: kundenservice@kochwerk-lindner.de\nSubject: failure notice\n\n"
           "Hi. This is the qmail-send program at mail.example.net.\nI'm afraid I wasn't able to deliver your "
           "message.\n")
    assert kind_of(parsed(raw)).kind == "auto_reply"


def test_a_read_receipt_is_no_ticket() -> None:
    raw = """From: Erika Muster <erika@example.org>
To: kundenservice@kochwerk-lindner.de
Subject: Gelesen: Re: Pfanne [#42]
MIME-Version: 1.0
Content-Type: multipart/report; report-type=disposition-notification; boundary="R"

--R
Content-Type: text/plain; charset="utf-8"

Ihre Nachricht wurde am 03.03.2025 11:00 gelesen.

--R
Content-Type: message/disposition-notification

Final-Recipient: rfc822;erika@example.org
Original-Message-ID: <kontor.42.1@kochwerk-lindner.de>
Disposition: automatic-action/MDN-sent-automatically; displayed

--R--
"""
    assert kind_of(parsed(raw)) == MailKind("auto_reply", "Lesebestätigung")
