"""What the audit log and the outbox keep of a text: its SHA-256 and the draft's provenance, never the text."""

from __future__ import annotations

import hashlib

from assistant.store.tables import DraftRow


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def provenance(draft: DraftRow) -> dict[str, object]:
    """The prompt version, model and sources a draft was made with, for its audit entries."""
    return {"prompt_version": draft.prompt_version or None, "model_sha256": draft.model_sha256 or None,
            "sources": draft.source_chunk_ids}
