"""Generated from proto/*.proto by scripts/gen-proto; do not edit."""
