"""Read a customer mail like a person does: set aside quotes, signature and greeting, then find the
customer's questions and requests, each with the statements that belong to it (DESIGN.md, flow step 4)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from assistant import mailparts as mp

MAX_QUESTIONS = 8
_MAX_TEXT, _MAX_CONTEXT = 1000, 800  # characters; a runaway mail must not become a runaway query

# Sentence ends: punctuation runs (with closing quotes/brackets) and emoticons ("rostig ;( ist das …").
_BOUNDARY = re.compile(r"[.!?…]+[\"“”'’)\]]*(?=\s|$)|(?<=\s)[:;]-?[()DPp]{1,3}(?=\s|$)")
_ABBREV = frozenset(
    """
    bzw ca nr usw inkl ggf ggfs evtl str dr prof hr fr tel art abs vs etc geb gem lt max min mind incl
    st std mio mrd jan feb mär apr jun jul aug sep sept okt nov dez mo di mi do sa bspw bzgl zzgl exkl
    vgl co dipl ing mr mrs ms approx z.b d.h u.a o.ä u.u v.a z.t i.d.r s.o s.u e.k e.v e.g i.e
    """.split()  # noqa: SIM905 - a word list people can read and extend
)
_ORDINAL = re.compile(r"\d{1,2}|\d{1,2}\.\d{1,2}")  # "3. Dezember", "2. Wahl", "am 12.11. bestellt"
_BULLET = re.compile(r"^\s*(?:[-*•–]|\d{1,2}[.)]|[a-z]\))\s+")
_PARAGRAPH = re.compile(r"\n[ \t]*\n")

_LEAD = r"^(?:(?:und|aber|also|dann|jetzt|nun|außerdem|zudem|deshalb|daher|darum|ach ja|and|but|also|so)[\s,]+)?"
# Verb-first or wh-word starts: a question even when a hurried writer leaves out the "?".
_QUESTION_START = re.compile(
    _LEAD + r"(?:was|wie|wann|wo|woher|wohin|warum|wieso|weshalb|weswegen|welche[rsmn]?|wer|wen|wem|kann|kannst|"
    r"können|könnt|könnte|könnten|gibt es|gibts|ist es möglich|ist das|sind|habt|haben sie|muss|müssen|darf|dürfen|"
    r"soll|sollte|geht|gilt|lohnt|bekomme|bekommt|stimmt es|verkauft|liefert|bietet|what|how|when|where|why|which|"
    r"who|can|could|is it possible|do you|does|is there|are there)\b",
    re.I,
)
_MODAL_START = re.compile(
    _LEAD
    + r"(?:(?:kann|darf|muss|soll|sollte) (?:ich|man)|können sie|könnt ihr|könnten sie|gibt es|ist es möglich|habt ihr|"
    r"haben sie)\b",
    re.I,
)
_INDIRECT = re.compile(
    r"\b(?:wollte|möchte|würde|hätte)\b(?:\s+(?:gern|gerne|mal|nur|kurz|noch|nach)){0,3}\s+(?:fragen|wissen|"
    r"nachfragen|erfahren)\b|mich würde interessieren|ich frage mich|ich wüsste gern|^frage:|i (?:would like|want"
    r"|wanted) to know|i was wondering",
    re.I,
)
_ANNOUNCE = re.compile(
    r"^(?:ich|wir)?\s*(?:hätte|habe|hab|hätten|haben)\b(?:\s+\w+){0,3}\s+(?:frage|fragen|anliegen)\b", re.I
)
_REQUEST = re.compile(
    _LEAD + r"(?:bitte\b|(?:ich|wir) (?:bitte|bitten|erwarte|erwarten|fordere|fordern|verlange|verlangen|will|wollen|"
    r"beantrage|beantragen|widerrufe|widerrufen|kündige|kündigen|storniere|stornieren|reklamiere|reklamieren)\b|"
    r"(?:können|könnten|würden|würdet|könnt|kannst|könntest) (?:sie|ihr|du)\b|(?:schicken|senden|schreiben|teilen|"
    r"nennen|geben|sagen|stornieren|erstatten|überweisen|prüfen|schauen|sehen|rufen|melden|informieren|bestätigen|"
    r"stellen|kontaktieren|tauschen|ändern|löschen|buchen|reservieren|liefern|veranlassen|korrigieren|erklären|"
    r"helfen|leiten|übersenden|zusenden|entsperren|streichen|entfernen|nehmen|lassen|beachten) sie\b|(?:schick|"
    r"schickt|sende|sendet|gib|gebt|sag|sagt|nenn|nennt|teil|teilt|schreib|schreibt|ruf|ruft|meld|meldet)e? (?:mir|"
    r"uns)\b|um (?:rückruf|antwort) wird gebeten|please\b|kindly\b|(?:could|can|would|will) you\b|i(?:'d| would) "
    r"like\b|i want\b|i need\b|we(?:'d| would) like\b|send me\b|let me know\b)",
    re.I,
)
_PLEASE = re.compile(r"\bbitte\b|\bplease\b", re.I)
# Soft wishes ("Ich möchte sie zurückgeben.") are context when a question stands beside them.
_WISH = re.compile(
    _LEAD + r"(?:ich|wir) (?:möchte|möchten|bräuchte|bräuchten|brauche|brauchen|benötige|benötigen|hätte gern|"
    r"hätte gerne|hätten gern|würden?\b.{0,60}\bgerne?)\b(?!\s+(?:ungern|nicht|kein|keine|nie)\b)",
    re.I,
)
_FILLER = re.compile(
    r"freue mich auf|freuen uns auf|über eine\b.{0,30}\b(?:antwort|rückmeldung|nachricht)|looking forward|"
    r"^(?:ich |wir )?(?:bitte|bitten)?\s*(?:um )?(?:eine )?(?:kurze |baldige |schnelle |zeitnahe )?"
    r"(?:antwort|rückmeldung|rückantwort)\W*$|^(?:ich )?(?:hoffe|hoffen) auf (?:eine )?\w* ?(?:antwort|rückmeldung)",
    re.I,
)
_THANKS_VERB = re.compile(r"^(?:ich bedanke mich|wir bedanken uns|thanks in advance|many thanks)", re.I)
_CONTRAST = re.compile(r"\b(?:aber|leider|jedoch|allerdings|trotzdem|but|however)\b", re.I)
_NEGATION = re.compile(
    r"\b(?:nicht|kein|keine|nie|noch nicht|leider|aber|obwohl|trotz|jedoch|allerdings|statt|not|never|no|but)\b", re.I
)
_CONFIRM = re.compile(
    r"\b(?:angekommen|eingetroffen|erhalten|gutgeschrieben|erstattet|erledigt|geklappt|funktioniert|in ordnung|"
    r"alles klar|alles gut|passt|super|perfekt|prima|toll|klasse|top|ok|okay|received|arrived|great|perfect)\b",
    re.I,
)
_NEW_TOPIC = re.compile(r"^(?:und|außerdem|zudem|noch|ach ja|übrigens|weiterhin|des weiteren|and|also)\b", re.I)
_CONDITIONAL = re.compile(r"^(?:und\s+)?(?:wenn|falls) (?:ja|nein|nicht|nicht,)\b", re.I)
# A short follow-up that points back ("Was kostet der?", "Wie lange dauert das?").
_NAMES_TOPIC = 8  # words; a shorter question leans on what was said before it ("Ist die noch lieferbar?")
_PRONOUN = re.compile(
    r"\b(?:der|die|das|den|dem|es|sie|er|dafür|dazu|damit|davon|darauf|sowas|so was|diese[rsmn]?|it|that|this)\b"
    r"(?=\s*[?!.]*$|\s+(?-i:[a-zäöüß]))",
    re.I,
)
_PROBLEM = re.compile(
    r"kaputt|defekt|beschädigt|\briss\b|fehlt|falsch|nicht angekommen|reklam|beschwer|leider|ärger|enttäuscht|"
    r"broken|damaged|missing|wrong",
    re.I,
)
_SUBJECT_PREFIX = re.compile(r"^\s*(?:(?:re|aw|wg|fw|fwd|wtr|antw|sv|vs)\s*(?:\[\d+\])?\s*:\s*)+", re.I)

_LEGAL = re.compile(
    r"\b(?:rechts)?anw[aä]lt|\banwaltlich|\bklage\b|\bverklag|\bgerichtlich|\bvor gericht\b|\brechtliche\w* schritte|"
    r"\bverbraucherzentrale|\bverbraucherschutz|\bstrafanzeige|\banzeige (?:erstatten|erstatte|stellen)|\babmahn|"
    r"\b(?:datenschutz|aufsichts)behörde|\b(?:setze|setzen)\b.{0,30}\bfrist\b|\bfrist\b.{0,60}\b(?:andernfalls|"
    r"ansonsten|sonst)\b|\bfristsetzung|\bletzte frist|\bmahnbescheid|\blawyer|\battorney|\blegal action|\bsue\b",
    re.I,
)
_DAMAGE = re.compile(
    r"schadens?ersatz|entschädigung|schmerzensgeld|folgeschäd|folgeschaden|\bhaft(?:en|ung|et|bar)\b|"
    r"\bschaden\b.{0,40}\b(?:ersetz|erstatt|aufkomm|bezahl|übernehm)|(?:arzt|reinigungs|reparatur|handwerker|"
    r"anwalts|kranken|tierarzt|hotel|taxi|mehr)kosten\b.{0,60}\b(?:erstatt|übernehm|ersetz|bezahl|zahl)|"
    r"\bcompensation\b|\bdamages\b",
    re.I,
)
# Demands for money a person must decide on: a price difference, a voucher, a discount code, a refund.
_MONEY = re.compile(
    r"\b(?:erwarte|fordere|verlange|bestehe auf|bestätige|gib mir|geben sie mir|stellen sie mir|erstatten sie|"
    r"überweisen sie|schreiben sie mir)\b.{0,80}?\b(?:gutschein\w*|gutschrift|rabatt\w*|preisnachlass|nachlass|"
    r"differenz|erstatt\w*|\d+\s?(?:€|euro|%))",
    re.I,
)
# Someone asking for another person's data: never answered from any document.
_THIRD_PARTY = re.compile(
    r"\b(?:adresse|anschrift|telefonnummer|handynummer|e-mail-adresse|daten|bestellungen)\b.{0,40}?"
    r"\bvon (?:der |dem |meiner |meinem )?(?:kundin|kunden?|herrn|frau|nachbar\w*|ex-\w+)\b",
    re.I,
)
_WORDS = re.compile(r"[^\W\d_]+")
_DE = frozenset(
    """
    der die das und ist nicht ich sie wir ein eine einen mit für auf zu den dem von bitte wie was wann
    kann können haben habe hab mein meine meinen noch auch schon aber oder danke es sich bei wird wurde
    hallo vielen sehr geehrte grüße gibt ihre ihr euch welche welcher welches welchen des im zum zur nach über
    aus dass sind muss soll kein keine keinen nur mir mich uns unser unsere ihnen bin wenn als wo warum wieso ob hat
    """.split()  # noqa: SIM905 - a word list people can read and extend
)
_EN = frozenset(
    """
    the and is are not you we to of for with please what how when can could would my your have has does
    thanks thank hello dear regards this that it be will order
    """.split()  # noqa: SIM905 - a word list people can read and extend
)


@dataclass(frozen=True)
class Question:
    text: str  # the question or request as the customer wrote it
    context: str  # the customer's statements that belong to it, may be ""

    @property
    def query(self) -> str:
        """What retrieval searches with: the statements first, then the question."""
        return f"{self.context} {self.text}".strip()


@dataclass(frozen=True)
class ReadMail:
    body: str  # the customer's own text: no quoted history, signature, greeting or thanks lines
    questions: list[Question]  # in order, at most MAX_QUESTIONS
    customer_name: str | None  # for the salutation; never an address
    language: str  # "de", "en" or "other"
    concern: str | None  # "legal_threat", "damage_claim", "money_demand", "third_party_data" or None
    only_thanks: bool  # nothing to answer: the mail only thanks or confirms
    quoted: str  # the removed quoted history, for display
    notes: list[str] = field(default_factory=list)  # German notes for the agent


@dataclass
class _Unit:
    para: int
    text: str
    kind: str  # question | request | wish | statement | thanks | filler
    line: int = -1  # the list item ("1. …", "- …") it stands on; -1 in running text


@dataclass
class _Draft:
    text: str
    para: int
    before: list[str]
    after: list[str] = field(default_factory=list)
    line: int = -1


def read_mail(subject: str, body: str, sender_name: str | None = None) -> ReadMail:
    """Never raises: an unreadable mail comes back with no questions and a note."""
    try:
        return _read(subject if isinstance(subject, str) else "", body if isinstance(body, str) else "", sender_name)
    except Exception:  # reading must never stop a ticket; the agent still sees the original
        note = "Mail konnte nicht automatisch gelesen werden – bitte selbst lesen"
        return ReadMail("", [], None, "de", None, False, "", [note])


def _read(subject: str, raw: str, sender: str | None) -> ReadMail:
    subject_text, _ = mp.normalise(subject[:1000])
    title = _SUBJECT_PREFIX.sub("", " ".join(subject_text.split()))
    text, notes = mp.normalise(raw)
    parts = mp.split_quoted(text, subject_text)
    own, name = _own_text(parts.own)
    quoted = parts.quoted
    if parts.forwarded and len(own.split()) < 25:
        inner = mp.split_quoted(mp.forwarded_text(parts.quoted))
        forwarded, forwarded_name = _own_text(inner.own)
        own, quoted, name = f"{own}\n\n{forwarded}".strip(), inner.quoted, name or forwarded_name
        notes.append("Weitergeleitete Nachricht als Anliegen gelesen")
    elif parts.forwarded:
        notes.append("Weitergeleitete Nachricht unter dem Text nicht mitgelesen")
    elif quoted:
        notes.append("Zitierter Verlauf entfernt")
    if own and not any(c.isalpha() for c in own):
        own = ""
        notes.append("Kein lesbarer Text in der Mail")
    units = _classify(_units(own))
    body = _body(own)
    language = _language(f"{title} {body}")
    concern = _concern(f"{title}\n{body}", notes)
    customer = mp.better_name(name, mp.sender_display_name(sender))
    if language != "de":
        notes.append("Mail auf Englisch" if language == "en" else "Mail weder auf Deutsch noch auf Englisch")
    only_thanks = _only_thanks(units)
    questions = [] if only_thanks else _questions(units, body, title, notes)
    if only_thanks:
        notes.append("Nur Dank oder Bestätigung – nichts zu beantworten")
    return ReadMail(body, questions, customer, language, concern, only_thanks, quoted, notes)


def _own_text(text: str) -> tuple[str, str | None]:
    text, name, _ = mp.strip_signature(text)
    text = mp.strip_greeting(text)
    text, tail_name, _ = mp.strip_signature(text)  # a name line that only shows once the closing is gone
    return re.sub(r"\n{3,}", "\n\n", "\n".join(line.rstrip() for line in text.strip().split("\n"))), name or tail_name


def _units(text: str) -> list[_Unit]:
    units: list[_Unit] = []
    line = 0
    for para_index, para in enumerate(_PARAGRAPH.split(text)):
        for chunk in _chunks(para):
            item = line if _BULLET.match(chunk) else -1
            units.extend(_Unit(para_index, s, "", item) for s in _sentences(chunk))
            line += 1
    return units


def _chunks(para: str) -> list[str]:
    """Join hard-wrapped lines; a short line, a bullet, or any line of a mail without punctuation stands alone."""
    chunks: list[str] = []
    wrapped = bool(re.search(r"[.!?]", para))  # hurried mails without any punctuation use one line per thought
    last_line = ""
    for line in para.split("\n"):
        line = line.strip()
        if not line:
            continue
        prev = chunks[-1] if chunks else ""
        joins = wrapped and prev and not _BULLET.match(line) and not prev.endswith((".", "!", "?", ":", ";"))
        if joins and (prev.endswith((",", "-", "–")) or len(last_line) >= 50):
            chunks[-1] = f"{prev} {line}"
        else:
            chunks.append(line)
        last_line = line
    return chunks


def _sentences(chunk: str) -> list[str]:
    out, start = [], 0
    for match in _BOUNDARY.finditer(chunk):
        if set(match.group()) <= {"."} and len(match.group()) == 1 and _no_split(chunk, match.start()):
            continue
        out.append(chunk[start : match.end()])
        start = match.end()
    out.append(chunk[start:])
    return [s for s in (_BULLET.sub("", s).strip() for s in out) if any(c.isalnum() for c in s)]


def _no_split(chunk: str, dot: int) -> bool:
    """The dot ends an abbreviation, an initial, an ordinal or a date, not a sentence."""
    token = chunk[max(0, dot - 12) : dot].rsplit(None, 1)[-1] if chunk[max(0, dot - 12) : dot].strip() else ""
    token = token.lstrip("(\"'„").lower()
    return (len(token) == 1 and token.isalpha()) or token in _ABBREV or bool(_ORDINAL.fullmatch(token))


def _classify(units: list[_Unit]) -> list[_Unit]:
    for unit in units:
        unit.kind = _kind(unit.text)
    for unit in units:  # a wish in a paragraph with a question explains it; alone it is the request
        if unit.kind == "wish":
            near = [u for u in units if u is not unit and u.para == unit.para]
            unit.kind = "statement" if any(u.kind in ("question", "request") for u in near) else "request"
    return units


def _kind(text: str) -> str:
    low = text.lower()
    ends = text.rstrip(" \"'”“’)]")
    asks = "?" in ends[-3:]
    if not asks and len(low.split()) <= 20 and mp.THANKS_START.match(low) and not _CONTRAST.search(low):
        return "thanks"
    if not asks and (_THANKS_VERB.match(low) or _FILLER.search(low)) and len(low.split()) <= 15:
        return "filler"
    if asks or _INDIRECT.search(low):
        return "question"
    if _ANNOUNCE.match(low) and len(low.split()) <= 8:
        return "statement"
    if _REQUEST.match(low) or _PLEASE.search(low):
        return "request"
    if _WISH.match(low):
        return "wish"
    if _MODAL_START.match(low) or (ends[-1:] not in (".", "!", "…") and _QUESTION_START.match(low)):
        return "question"
    return "statement"


def _questions(units: list[_Unit], body: str, title: str, notes: list[str]) -> list[Question]:
    drafts: list[_Draft] = []
    pending: list[_Unit] = []
    for unit in units:
        if unit.kind == "statement" and not pending and drafts and unit.line >= 0 and drafts[-1].line == unit.line:
            drafts[-1].after.append(unit.text)  # "2. Geht Rechnung? Es wäre unsere erste Bestellung." explains 2.
            continue
        if unit.kind == "statement":
            pending.append(unit)
            continue
        if unit.kind not in ("question", "request"):
            continue
        last = drafts[-1] if drafts else None
        if last and _CONDITIONAL.match(unit.text):  # "Und wenn ja: bei wie viel Grad?" belongs to the one before
            last.text, last.after = f"{last.text} {unit.text}", last.after + [u.text for u in pending]
        elif last and pending and _NEW_TOPIC.match(unit.text) and pending[0].para == last.para:
            last.after += [u.text for u in pending]
            drafts.append(_Draft(unit.text, unit.para, [], line=unit.line))
        else:
            before = [u.text for u in pending]
            words = len(unit.text.split())
            if last and (words <= 4 or (words <= 6 and _PRONOUN.search(unit.text))):
                # "Was kostet der?" needs the question before – and what that one rests on only when it does not
                # name its topic itself ("… per Express bis Freitag?" is the topic, not the "ohne Gravur" before it)
                earlier = last.before if len(last.text.split()) < _NAMES_TOPIC else []
                before = [*earlier, last.text, *last.after, *before]
            drafts.append(_Draft(unit.text, unit.para, before, line=unit.line))
        pending = []
    if drafts and pending:
        if pending[0].para != drafts[-1].para and _PROBLEM.search(" ".join(u.text for u in pending)):
            drafts.append(_Draft(" ".join(u.text for u in pending), pending[0].para, []))
        else:
            drafts[-1].after += [u.text for u in pending]
    if not drafts:
        statements = " ".join(u.text for u in units if u.kind == "statement")
        return _fallback(statements or body, title, notes)
    return [_finish(d) for d in _capped(drafts, notes)]


def _capped(drafts: list[_Draft], notes: list[str]) -> list[_Draft]:
    if len(drafts) <= MAX_QUESTIONS:
        return drafts
    rest = drafts[MAX_QUESTIONS - 1 :]
    notes.append(f"{len(drafts)} Fragen erkannt – die letzten {len(rest)} zu einer zusammengefasst")
    merged = _Draft(" ".join(d.text for d in rest)[: _MAX_TEXT * 2], rest[0].para, rest[0].before)
    return [*drafts[: MAX_QUESTIONS - 1], merged]


def _finish(draft: _Draft) -> Question:
    before: list[str] = []
    for sentence in reversed(draft.before):  # the statements nearest the question matter most
        if sum(map(len, before)) + len(sentence) > _MAX_CONTEXT and before:
            break
        before.insert(0, sentence)
    context = _clip(" ".join(before + draft.after), _MAX_CONTEXT + 400)
    return Question(_clip(draft.text, _MAX_TEXT), context)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


def _fallback(body: str, title: str, notes: list[str]) -> list[Question]:
    """No question found: the subject if it asks one, else the complaint itself, else the subject alone."""
    flat = " ".join(body.split())
    subject_asks = bool(title) and ("?" in title or _QUESTION_START.match(title) is not None)
    if flat and subject_asks:
        notes.append("Keine Frage im Text – Betreff als Frage gelesen")
        return [Question(_clip(title, _MAX_TEXT), _clip(flat, _MAX_CONTEXT))]
    if flat and title and len(flat.split()) <= 5 and not flat.endswith((".", "!", "?")):
        notes.append("Sehr kurze Mail – Betreff und Text zusammen als Anliegen gelesen")
        return [Question(f"{title}: {flat}", "")]
    if flat:
        notes.append("Keine ausdrückliche Frage – der ganze Text ist das Anliegen")
        return [Question(_clip(flat, _MAX_TEXT * 2), "")]
    if title:
        notes.append("Kein eigener Text – Betreff als Anliegen gelesen")
        return [Question(title, "")]
    notes.append("Kein lesbarer Text und kein Betreff – kein Anliegen erkannt")
    return []


def _only_thanks(units: list[_Unit]) -> bool:
    kinds = {u.kind for u in units}
    if not units or kinds & {"question", "request", "wish"}:
        return False
    statements = [u.text for u in units if u.kind == "statement"]
    confirms = all(_CONFIRM.search(s) and not _NEGATION.search(s) and len(s.split()) <= 15 for s in statements)
    return confirms and ("thanks" in kinds or bool(statements))


def _body(own: str) -> str:
    """The customer's text without lines that only thank or ask for a reply."""
    kept = []
    for line in own.split("\n"):
        sentences = _sentences(line) if line.strip() else []
        if sentences and all(_kind(s) in ("thanks", "filler") for s in sentences):
            continue
        kept.append(line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()


def _language(text: str) -> str:
    words = _WORDS.findall(text[:5000])
    if not words:
        return "de"
    de = sum(w.lower() in _DE for w in words)
    en = sum(w.lower() in _EN for w in words) + sum(w == "I" for w in words)
    best, hits = ("de", de) if de >= en else ("en", en)
    if hits >= 2 and hits >= 0.1 * len(words) or (hits >= 1 and len(words) < 6 and de != en):
        return best
    if re.search(r"[äöüß]", text.lower()) or len(words) < 3:
        return "de"
    return "other"


def _concern(text: str, notes: list[str]) -> str | None:
    for kind, pattern, label in (
        ("legal_threat", _LEGAL, "Rechtliche Schritte angesprochen"),
        ("damage_claim", _DAMAGE, "Forderung nach Schadensersatz oder Entschädigung"),
        ("money_demand", _MONEY, "Forderung nach Geld, Rabatt oder Gutschein"),
        ("third_party_data", _THIRD_PARTY, "Frage nach Daten einer anderen Person"),
    ):
        match = pattern.search(text[:20_000])
        if match:
            notes.append(f"{label} („{match.group()[:40]}“) – vor dem Senden von einer verantwortlichen Person prüfen")
            return kind
    return None
