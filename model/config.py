"""The core's settings from the environment (and `.env`), names fixed by
docs/interface.md §5: the data, the model, the training engine, write-back and the
guardrails. The bot adds what only it reads (`bot.settings.BotSettings`).

Flags on the command line override them: build `Settings(**overrides)`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BeforeValidator, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _csv(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return [str(v).strip() for v in value if str(v).strip()]  # type: ignore[union-attr]


# A setting written as "a, b, c" (a list given in code is taken as it is).
CommaList = Annotated[list[str], NoDecode, BeforeValidator(_csv)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    # Data source
    data: str | None = Field(None, alias="SEGBOT_DATA")
    data_query: str | None = Field(None, alias="SEGBOT_DATA_QUERY")
    data_kind: str = Field("customers", alias="SEGBOT_DATA_KIND")
    id_column: str = Field("customer_id", alias="SEGBOT_ID_COLUMN")
    features: CommaList = Field(default_factory=list, alias="SEGBOT_FEATURES")
    date_column: str = Field("date", alias="SEGBOT_DATE_COLUMN")
    amount_column: str = Field("amount", alias="SEGBOT_AMOUNT_COLUMN")
    quantity_column: str | None = Field(None, alias="SEGBOT_QUANTITY_COLUMN")
    as_of: str | None = Field(None, alias="SEGBOT_AS_OF")
    # A data dictionary (model.data.labels) and integer-coded columns read as categories
    labels_file: Path | None = Field(None, alias="SEGBOT_LABELS_FILE")
    categorical: CommaList = Field(default_factory=list, alias="SEGBOT_CATEGORICAL")

    # Model
    k: str = Field("auto", alias="SEGBOT_K")
    k_min: int = Field(3, alias="SEGBOT_K_MIN", ge=1, le=30)
    k_max: int = Field(10, alias="SEGBOT_K_MAX", ge=2, le=30)
    model_dir: Path = Field(Path("./models"), alias="SEGBOT_MODEL_DIR")
    names_file: Path | None = Field(None, alias="SEGBOT_NAMES_FILE")
    keep_versions: int = Field(20, alias="SEGBOT_KEEP_VERSIONS", ge=1)
    seed: int = Field(0, alias="SEGBOT_SEED")
    # Training engine (docs/interface.md §5): this process, or a Spark cluster (extra segbot[spark])
    engine: str = Field("local", alias="SEGBOT_ENGINE")
    spark_master: str = Field("local[*]", alias="SEGBOT_SPARK_MASTER")

    # Write-back: after each switch, every customer's segment goes to a table or file.
    # A URL may hold a password: repr hides it, and logs show it masked.
    write_back: str | None = Field(None, alias="SEGBOT_WRITE_BACK", repr=False)
    write_back_table: str = Field("customer_segments", alias="SEGBOT_WRITE_BACK_TABLE")

    # Guardrails: a new version this much worse is kept as a candidate, not served
    max_silhouette_drop: float = Field(0.05, alias="SEGBOT_MAX_SILHOUETTE_DROP")
    min_segment_share: float = Field(0.01, alias="SEGBOT_MIN_SEGMENT_SHARE")

    @field_validator("data_kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in {"customers", "transactions"}:
            raise ValueError(f"must be 'customers' or 'transactions', not {value!r}")
        return value

    @field_validator("engine")
    @classmethod
    def _engine(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in {"local", "spark"}:
            raise ValueError(f"must be 'local' or 'spark', not {value!r}")
        return value

    @field_validator("k", mode="before")
    @classmethod
    def _k(cls, value: object) -> str:
        text = str(value).strip().lower()
        if text == "auto":
            return text
        if not text.isdigit() or int(text) < 1:
            raise ValueError(f"must be 'auto' or a whole number of segments ≥ 1, not {value!r}")
        return text

    @model_validator(mode="after")
    def _k_range(self) -> Settings:
        if self.k_min > self.k_max:
            raise ValueError(
                f"SEGBOT_K_MIN / --k-min ({self.k_min}) is larger than "
                f"SEGBOT_K_MAX / --k-max ({self.k_max}); auto needs k_min ≤ k_max"
            )
        return self

    @property
    def fixed_k(self) -> int | None:
        return None if self.k == "auto" else int(self.k)
