"""Run directories: their layout and recognition (layout), the typed, validated meta.json (meta), safetensors weights
and checkpoints identified by parsing (store), and opening a run checked against itself (load)."""
