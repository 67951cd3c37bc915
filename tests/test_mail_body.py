"""The readable text of a mail (assistant/mailbox/body.py): plain text preferred, HTML-only mails as Outlook, Gmail
and Apple Mail write them converted so that paragraphs, lines, lists, tables and quotes stay readable, and a wrong
or unknown charset never an exception."""

from __future__ import annotations

import email
import re
from email import policy
from email.message import EmailMessage

import pytest

from assistant.mailbox.body import CUT_NOTE, MAX_HTML_CHARS, html_to_text, readable_text


def parsed(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def html_mail(html: str, plain: str | None = None) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["Subject"] = "Erika Muster <erika@example.org>", "Pfanne"
    if plain is not None:
        message.set_content(plain)
        message.add_alternative(html, subtype="html")
    else:
        message.set_content(html, subtype="html")
    return parsed(message.as_bytes())


def no_artefacts(text: str) -> None:
    assert "\n\n\n" not in text and not re.search(r"\n\s*[?!.,:]\s*\n", text), text
    assert all(line == line.rstrip() for line in text.split("\n"))


OUTLOOK = """<html xmlns:o="urn:schemas-microsoft-com:office:office" xmlns:w="urn:schemas-microsoft-com:office:word">
<head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"><meta name="Generator" content="Microsoft Word
15 (filtered medium)"><style><!-- p.MsoNormal, li.MsoNormal {margin:0cm; font-size:11.0pt;} --></style></head>
<body lang="DE" link="#0563C1" style="word-wrap:break-word"><div class="WordSection1">
<p class="MsoNormal">Sehr geehrte Damen und Herren,<o:p></o:p></p>
<p class="MsoNormal"><o:p>&nbsp;</o:p></p>
<p class="MsoNormal">meine Bestellung Nr.&nbsp;4711 ist nicht angekommen.<br>
K&ouml;nnen Sie bitte nachsehen<b>?</b><o:p></o:p></p>
<p class="MsoNormal"><o:p>&nbsp;</o:p></p>
<table class="MsoTableGrid" border="1" cellspacing="0" cellpadding="0">
<tr><td><p class="MsoNormal">Artikel<o:p></o:p></p></td><td><p class="MsoNormal">Menge<o:p></o:p></p></td></tr>
<tr><td><p class="MsoNormal">Pfanne 28&nbsp;cm<o:p></o:p></p></td><td><p class="MsoNormal">2<o:p></o:p></p></td></tr>
</table>
<p class="MsoNormal"><o:p>&nbsp;</o:p></p>
<p class="MsoNormal">Mit freundlichen Gr&uuml;&szlig;en<o:p></o:p></p>
<p class="MsoNormal">Erika Muster<o:p></o:p></p>
<p class="MsoNormal"><o:p>&nbsp;</o:p></p>
<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">
<p class="MsoNormal"><b>Von:</b> Kundenservice &lt;kundenservice@kochwerk-lindner.de&gt;<br>
<b>Gesendet:</b> Montag, 3. M&auml;rz 2025 10:00<br><b>Betreff:</b> Ihre Bestellung<o:p></o:p></p></div>
<p class="MsoNormal"><o:p>&nbsp;</o:p></p><p class="MsoNormal">Guten Tag, Ihre Bestellung ist unterwegs.</p>
</div><script>alert("x")</script></body></html>"""

GMAIL = """<div dir="ltr"><div>Hallo,</div><div><br></div><div>die Pfanne kam zerkratzt an. Was ich brauche:</div>
<ul><li>eine neue Pfanne</li><li>einen R&uuml;cksendeschein</li></ul><div><br></div><div>Gru&szlig;<br>Max</div></div>
<br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">Am Mo., 3. M&auml;rz 2025 um 10:00 Uhr schrieb
Kundenservice &lt;<a href="mailto:kundenservice@kochwerk-lindner.de">kundenservice@kochwerk-lindner.de</a>&gt;:<br>
</div><blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);
padding-left:1ex"><div dir="ltr">Guten Tag,<br><br>Ihre Bestellung ist unterwegs.<br><blockquote class="gmail_quote">
Wo bleibt meine Pfanne?</blockquote></div></blockquote></div>"""

APPLE = """<html><head><meta http-equiv="content-type" content="text/html; charset=utf-8"></head><body
style="overflow-wrap: break-word; -webkit-nbsp-mode: space;">Hallo zusammen,<div><br></div><div>wie lange dauert der
Versand nach &Ouml;sterreich?</div><div><br></div><div>Viele Gr&uuml;&szlig;e</div><div>Jan<br><div><br><blockquote
type="cite"><div>Am 03.03.2025 um 10:00 schrieb Kundenservice:</div><br><div><div>Guten Tag, danke f&uuml;r Ihre
Nachricht.</div></div></blockquote></div><br></div><style>div { color: red }</style></body></html>"""


def test_an_outlook_mail_keeps_its_lines_paragraphs_and_table() -> None:
    text = readable_text(html_mail(OUTLOOK))
    assert text.startswith("Sehr geehrte Damen und Herren,\n\nmeine Bestellung Nr. 4711 ist nicht angekommen.\n"
                           "Können Sie bitte nachsehen?\n\n")
    assert re.search(r"Artikel +Menge\nPfanne 28 cm +2\n\nMit freundlichen Grüßen\nErika Muster\n\nVon: "
                     r"Kundenservice <kundenservice@kochwerk-lindner.de>\nGesendet: ", text), text
    assert "alert" not in text and "MsoNormal" not in text and "\xa0" not in text and "&" not in text
    no_artefacts(text)


def test_a_gmail_reply_keeps_its_list_and_marks_the_quoted_mail() -> None:
    text = readable_text(html_mail(GMAIL))
    assert text.startswith("Hallo,\n\ndie Pfanne kam zerkratzt an. Was ich brauche:\n")
    assert re.search(r"\n *\* eine neue Pfanne\n *\* einen Rücksendeschein\n\nGruß\nMax\n", text), text
    assert text.endswith("> Guten Tag,\n>\n> Ihre Bestellung ist unterwegs.\n>> Wo bleibt meine Pfanne?")
    assert "Am Mo., 3. März 2025 um 10:00 Uhr schrieb" in text and "mailto:" not in text
    no_artefacts(text)


def test_an_apple_mail_without_plain_text() -> None:
    text = readable_text(html_mail(APPLE))
    assert text == ("Hallo zusammen,\n\nwie lange dauert der Versand nach Österreich?\n\nViele Grüße\nJan\n\n"
                    "> Am 03.03.2025 um 10:00 schrieb Kundenservice:\n>\n> Guten Tag, danke für Ihre Nachricht.")


def test_the_plain_alternative_is_preferred_and_an_empty_one_is_not() -> None:
    assert readable_text(html_mail("<p>HTML-Fassung</p>", "Die Textfassung.\n")) == "Die Textfassung."
    assert readable_text(html_mail("<p>Nur im <b>HTML</b> steht etwas.</p>", " \n")) == "Nur im HTML steht etwas."


def test_entities_inline_tags_and_blank_runs() -> None:
    html = ("<p>Preis: 5&nbsp;&euro; &amp; mehr &lt;sofort&gt;</p><p></p><p><br></p><div><br></div><div>&nbsp;</div>"
            "<p>Ist das <i>so</i> richtig<span>?</span></p><p>&#8222;Danke&#8220;</p>")
    assert html_to_text(html) == "Preis: 5 € & mehr <sofort>\n\nIst das so richtig?\n\n„Danke“"


def test_no_text_gives_an_empty_string() -> None:
    assert html_to_text("") == "" and html_to_text("<html><head><title>x</title></head><body> </body></html>") == ""
    message = EmailMessage()
    message["From"] = "erika@example.org"
    message.add_attachment(b"\x89PNG\r\n\x1a\n", maintype="image", subtype="png", filename="foto.png")
    assert readable_text(parsed(message.as_bytes())) == ""


def test_a_mail_with_a_wrong_or_unknown_charset_is_read_without_an_error() -> None:
    def raw(charset: str, body: bytes, kind: str = "plain") -> bytes:
        return (f"From: erika@example.org\nSubject: x\nMIME-Version: 1.0\nContent-Type: text/{kind}; "
                f"charset={charset}\nContent-Transfer-Encoding: 8bit\n\n").encode() + body

    utf8 = "Grüße aus Köln – 5 €".encode()
    assert readable_text(parsed(raw("us-ascii", utf8))) == "Grüße aus Köln – 5 €"  # claims ASCII, is UTF-8
    assert readable_text(parsed(raw("iso-8859-1", utf8))) == "Grüße aus Köln – 5 €"  # claims Latin-1, is UTF-8
    assert readable_text(parsed(raw("x-unbekannt", utf8))) == "Grüße aus Köln – 5 €"  # a made-up name
    assert readable_text(parsed(raw("utf-8", "Grüße".encode("cp1252")))) == "Grüße"  # claims UTF-8, is Windows
    assert readable_text(parsed(raw("windows-1252", "Grüße".encode("cp1252")))) == "Grüße"
    broken = readable_text(parsed(raw("utf-8", b"Gr\xc3 \x81\x8d e", "html")))  # no charset can read these bytes
    assert broken.startswith("Gr") and "\ufffd" in broken
    assert readable_text(parsed(raw("utf-8", b"<p>a\x00b\x01c</p>", "html"))) == "abc"  # lxml would refuse them


def test_format_flowed_paragraphs_are_joined() -> None:
    raw = ("From: jan@example.org\nSubject: x\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8; "
           "format=flowed\n\nGuten Tag, die Pfanne kam zerkratzt an und ich \nmöchte sie zurückschicken.\n\n"
           "> Ihre Bestellung ist \n> unterwegs.\n\n-- \nJan\n").encode()
    assert readable_text(parsed(raw)) == ("Guten Tag, die Pfanne kam zerkratzt an und ich möchte sie "
                                          "zurückschicken.\n\n> Ihre Bestellung ist unterwegs.\n\n--\nJan")


def test_the_inline_texts_of_a_mixed_mail_in_order_but_not_attachments_or_the_returned_mail() -> None:
    raw = b"""From: jan@example.org
Subject: x
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="M"

--M
Content-Type: text/plain; charset=utf-8

Hier das Foto:
--M
Content-Type: image/jpeg
Content-Disposition: inline

xxxx
--M
Content-Type: text/plain; charset=utf-8

Und die Rechnung anbei.
--M
Content-Type: text/plain; charset=utf-8
Content-Disposition: attachment; filename="notiz.txt"

Notiz, kein Text der Mail
--M
Content-Type: message/rfc822

From: a@example.org
Subject: alt

Weitergeleitete Mail
--M--
"""
    assert readable_text(parsed(raw)) == "Hier das Foto:\n\nUnd die Rechnung anbei."


def test_a_huge_html_mail_is_cut_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    assert MAX_HTML_CHARS >= 1_000_000  # a long mail is converted whole (the cut is there for time, not text)
    monkeypatch.setattr("assistant.mailbox.body.MAX_HTML_CHARS", 1200)
    text = html_to_text("<p>Absatz</p>" * 110)
    assert text.startswith("Absatz\n\nAbsatz") and text.endswith(CUT_NOTE)
