"""The run configuration: frozen pydantic models (schema), read from YAML safely with --set overrides (loading)."""

from lstmcast.config.loading import (
    DATA_DIALECT_KEYS,
    apply_overrides,
    build_config,
    config_sha256,
    dump_config,
    load_config,
    parse_yaml,
    read_config_file,
    with_data_overrides,
)
from lstmcast.config.schema import (
    DataConfig,
    ManyToOneConfig,
    ModelConfig,
    RunConfig,
    Seq2SeqConfig,
    SplitConfig,
    TrainingConfig,
)

__all__ = [
    "DATA_DIALECT_KEYS", "DataConfig", "ManyToOneConfig", "ModelConfig", "RunConfig", "Seq2SeqConfig", "SplitConfig",
    "TrainingConfig", "apply_overrides", "build_config", "config_sha256", "dump_config", "load_config", "parse_yaml",
    "read_config_file", "with_data_overrides",
]
