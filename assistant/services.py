"""The wiring: builds the parts of Kontor from settings, once, lazily, and hands each part the others it uses.
Only the faces (``assistant.web``, ``assistant.cli``) and benchmarks know this container; the modules below take
parts.

Swapping a part (tests, benchmarks) is one documented way: name it when building the container,
``Services(settings, llm=FakeLLM(), mailer=RecordingMailer())``, or later with ``services.override("mailer", …)``.
Any part below can be swapped; parts that take another lazily (the mailer, the model) see the swap at once, parts
built before it keep what they were built with — so swap before first use unless the part is taken lazily."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

import yaml

from assistant.answer import Answerer, AnswerPolicy
from assistant.answer.learning import ProvenLearner
from assistant.answer.promises import promise_flags
from assistant.auth import Users
from assistant.categorise.categories import CategorySet, load_categories
from assistant.categorise.categoriser import CategorisePolicy, Categoriser
from assistant.categorise.examples import ExampleStore
from assistant.config import Settings, offline_environment
from assistant.domain import DraftFlag
from assistant.embeddings import Embedder, make_embedder
from assistant.gate import ModelGate
from assistant.health import Problem, index_problem, mailbox_failing, model_unusable
from assistant.jobs import JobKind, JobQueue
from assistant.knowledge.catalogue import Catalogue
from assistant.knowledge.ingest import Ingestor
from assistant.knowledge.retrieval import Retriever
from assistant.knowledge.vectors import VectorIndex, discard
from assistant.live import LiveDrafts
from assistant.llm import LLM, make_llm, served
from assistant.mailbox.fetch import Fetcher
from assistant.mailbox.poller import Poller
from assistant.models import model_problem
from assistant.outbox import Mailer, make_mailer
from assistant.privacy import PrivacyParts
from assistant.prompts import PromptLibrary, PromptVersion
from assistant.store.db import Database, open_database
from assistant.tickets.assignment import Assignment, Routing
from assistant.tickets.attachments import AttachmentStore, Limits
from assistant.tickets.drafting import Drafting
from assistant.tickets.intake import Intake
from assistant.tickets.presence import Presence
from assistant.tickets.review import ReviewDesk
from assistant.tickets.sending import Sending

if TYPE_CHECKING:
    from assistant.evaluate.runner import EvalParts


class Services:
    def __init__(self, settings: Settings, **overrides: object) -> None:
        self.settings = settings
        offline_environment()  # before any model library reads it
        settings.ensure_dirs()
        self._llm_given = False
        for name, part in overrides.items():
            self.override(name, part)

    def forget(self, name: str) -> None:
        """Build the part called ``name`` anew on its next use (e.g. the categoriser after a prompt promotion)."""
        self.__dict__.pop(_part(name), None)

    def override(self, name: str, part: object) -> None:
        """Use ``part`` as the part called ``name`` (e.g. ``"llm"``, ``"embedder"``, ``"mailer"``)."""
        self.__dict__[_part(name)] = part
        self._llm_given = self._llm_given or name == "llm"

    @cached_property
    def database(self) -> Database:
        return open_database(self.settings.database)

    @cached_property
    def categories(self) -> CategorySet:
        return load_categories(self.settings.categories_file)

    @cached_property
    def examples(self) -> ExampleStore:
        return ExampleStore(self.database, self.categories, self.settings.answer.max_question_chars)

    @cached_property
    def categoriser(self) -> Categoriser:
        s = self.settings
        policy = CategorisePolicy(
            min_examples=s.categorise.min_examples, description_weight=s.categorise.description_weight,
            unsure_below=s.categorise.unsure_below, model_bonus=s.categorise.model_bonus,
            max_chars=s.answer.max_question_chars,
        )
        llm = (lambda: self.llm) if s.categorise.use_model else None
        prompt = self.prompts.resolve("categorise", "production")
        return Categoriser(
            self.categories, self.examples, llm, prompt, self.company, policy
        )

    @cached_property
    def live(self) -> LiveDrafts:
        return LiveDrafts()

    @cached_property
    def users(self) -> Users:
        return Users(self.database, token_days=self.settings.web.token_days)

    @cached_property
    def mailer(self) -> Mailer:
        return make_mailer(self.settings)

    def promises(self, text: str) -> list[DraftFlag]:
        """The promises in a text that need a person's explicit confirmation before sending."""
        return promise_flags(text, self.documents_saying)

    @cached_property
    def drafting(self) -> Drafting:
        return Drafting(self.database, lambda: self.categoriser, lambda: self.answerer(), self.live,
                        self.settings.answer.max_question_chars, model_problem=self.model_problem,
                        promises=self.promises, max_ticket_chars=self.settings.web.max_ticket_chars,
                        routing=self.routing)

    @cached_property
    def review(self) -> ReviewDesk:
        return ReviewDesk(self.database, self.examples, wake_jobs=lambda: self.jobs.wake(), promises=self.promises,
                          proven=ProvenLearner(self.catalogue), routing=self.routing)

    @cached_property
    def routing(self) -> Routing:
        return Routing(lambda: self.categories)

    @cached_property
    def assignment(self) -> Assignment:
        return Assignment(self.database, self.routing)

    @cached_property
    def presence(self) -> Presence:
        return Presence(self.database)

    @cached_property
    def sending(self) -> Sending:
        sender = (self.settings.outbox.mail_from, self.settings.outbox.mail_from_name)
        imap = self.settings.imap
        archive = (lambda data: self.fetcher.store_copy(imap.sent_folder, data)) \
            if imap.configured and imap.sent_folder else None  # a copy in the mailbox's Sent folder
        return Sending(self.database, lambda: self.mailer, sender, self.review.teacher, promises=self.promises,
                       reply_to=self.settings.outbox.mail_reply_to,
                       quote_customer=self.settings.outbox.mail_quote_customer, archive=archive)

    def model_problem(self) -> str | None:
        """Why drafting cannot use the configured model file, or None: cheap (the file's hash is cached per size
        and time); a model passed in (tests, benchmarks) is taken as it is."""
        return None if self._llm_given else model_problem(self.settings)

    def problems(self) -> list[Problem]:
        """Damaged state with its repair command, for ``/api/health`` and the log at start."""
        found = [index_problem(lambda: self.catalogue, lambda: self.vectors), model_unusable(self.model_problem())]
        if self.settings.imap.configured and (mailbox := self.fetcher.status()).failing:
            found.append(mailbox_failing(mailbox.last_error))
        return [problem for problem in found if problem is not None]

    def documents_saying(self, phrase: str) -> int:
        """How many knowledge documents mention ``phrase`` (lower case): "usual terms" are said more than once, in
        documents a customer may be told (an internal one is no usual term)."""
        return len({c.source for c in self.catalogue.all_chunks(include_internal=False) if phrase in c.text.lower()})

    @cached_property
    def intake(self) -> Intake:
        return Intake(self.database, wake_jobs=lambda: self.jobs.wake(),
                      attachments=self.attachments)

    @cached_property
    def model_gate(self) -> ModelGate:
        """The bound on model work started by requests (not the job queue's drafting)."""
        return ModelGate(self.settings.web.model_requests_per_person, self.settings.web.model_requests)

    @cached_property
    def fetcher(self) -> Fetcher:
        """The shared mailbox (``KONTOR_IMAP_*``); only used when a host is set."""
        return Fetcher(self.database, self.intake, self.settings.imap)

    @cached_property
    def mail_poller(self) -> Poller:
        return Poller(self.fetcher, self.settings.imap.interval)

    @cached_property
    def attachments(self) -> AttachmentStore:
        web = self.settings.web
        return AttachmentStore(self.settings.attachments_dir, self.database, Limits(
            web.max_attachments, web.max_attachment_bytes, web.max_attachments_bytes))

    @cached_property
    def jobs(self) -> JobQueue:
        """The worker's work: drafting jobs by kind, and delivery of the outbox as a periodic job."""
        return JobQueue(self.database, {JobKind.DRAFT: self.drafting.run},
                        on_give_up={JobKind.DRAFT: self.drafting.run_failed},
                        periodic={"deliver_due": self.sending.deliver_due})

    @cached_property
    def catalogue(self) -> Catalogue:
        return Catalogue(self.settings.index_dir / "catalogue.sqlite")

    @cached_property
    def vectors(self) -> VectorIndex:
        retrieval = self.settings.retrieval
        if retrieval.vectors_url:  # a chroma server several hosts share
            return VectorIndex(self.settings.index_dir / "chroma", retrieval.vectors_collection, retrieval.vectors_url)
        return VectorIndex(self.settings.index_dir / "chroma")

    def discard_vectors(self) -> None:
        """Remove the vector index unopened (``kontor ingest --rebuild``): broken files can crash chromadb's native
        code on open, and a rebuild recomputes every vector from the catalogue anyway."""
        if "vectors" in self.__dict__:
            raise RuntimeError("the vector index is open in this process")
        discard(self.settings.index_dir / "chroma")

    @cached_property
    def embedder(self) -> Embedder:
        return make_embedder(self.settings)

    @cached_property
    def llm(self) -> LLM:
        return make_llm(self.settings)

    @cached_property
    def prompts(self) -> PromptLibrary:
        return PromptLibrary(self.settings.prompts_dir)

    @cached_property
    def retriever(self) -> Retriever:
        """The knowledge search for staff: every document, internal ones marked."""
        return Retriever.from_settings(self.catalogue, self.vectors, self.embedder, self.settings)

    @cached_property
    def customer_retriever(self) -> Retriever:
        """What customer drafts are made from: documents marked "nur intern" are not in it at all."""
        return Retriever.from_settings(self.catalogue, self.vectors, self.embedder, self.settings,
                                       include_internal=False)

    @cached_property
    def ingestor(self) -> Ingestor:
        s = self.settings
        return Ingestor(s.knowledge_dir, self.catalogue, self.vectors, self.embedder, s.web.max_file_bytes)

    @cached_property
    def company(self) -> dict[str, str]:
        """Company facts for the system prompt, from knowledge/company.yaml when present."""
        path = self.settings.knowledge_dir / "company.yaml"
        data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
        return {"name": "unserem Unternehmen", **(data or {})}

    def _tiny_model(self) -> bool:
        """The embedded SmolLM2-135M: its verified sentences add no facts (bench/RESULTS.md), only seconds."""
        return self.settings.llm.llm_backend == "llama_cpp" and self.settings.llm.model == "smollm2"

    def eval_parts(self) -> EvalParts:
        """What an evaluation run uses (the model and categoriser built only when a case needs them)."""
        from assistant.evaluate.runner import EvalParts  # ~1 s of imports only evaluation needs

        return EvalParts(database=self.database, prompts=self.prompts, catalogue=self.catalogue,
                         llm=lambda: self.llm, answerer=self.answerer, categoriser=lambda: self.categoriser,
                         categories_file=self.settings.categories_file, eval_dir=self.settings.eval_dir,
                         tickets_first=self.jobs.busy)

    def privacy_parts(self) -> PrivacyParts:
        """What export, erasure and retention reach (the catalogue opened only when proven answers are involved)."""
        s = self.settings
        return PrivacyParts(database=self.database, catalogue=lambda: self.catalogue, live=self.live, home=s.home,
                            eval_dir=s.eval_dir, log_dir=s.log_dir, outbox_dir=s.outbox_dir)

    def answerer(
        self, prompt_ref: str | PromptVersion = "production", proven: bool = True,
        letter: PromptVersion | None = None,
    ) -> Answerer:
        """``proven=False``: never reuse approved answers (evaluation measures the prompt, not earlier work)."""
        chosen = self.settings.answer
        policy = AnswerPolicy(
            top_k=self.settings.retrieval.top_k, context_passages=chosen.context_passages,
            support_threshold=chosen.support_threshold, proven_threshold=chosen.proven_threshold if proven else 2.0,
            max_question_chars=chosen.max_question_chars, generate=chosen.answer_generate == "always"
            or (chosen.answer_generate == "auto" and not self._tiny_model()),
            dense_floor=self.embedder.similarity_floor, dense_span=self.embedder.similarity_span,
        )
        prompt = self.prompts.resolve("answer", prompt_ref) if isinstance(prompt_ref, str) else prompt_ref
        letter = letter or self.prompts.resolve("letter", "production")
        return Answerer(self.customer_retriever, self.embedder, served(self.llm), prompt, letter, self.catalogue,
                        self.company, policy)  # served: a draft names the model server that answered


def _part(name: str) -> str:
    """``name`` if it names a part of the container (a cached property), else a TypeError."""
    if not isinstance(getattr(Services, name, None), cached_property):
        raise TypeError(f"Services has no part named {name!r}")
    return name
