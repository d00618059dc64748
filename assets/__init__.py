"""The wood's data, installed with the package: goods, creatures and shocks
(`*.toml`) and the prompt templates (`prompts/*.txt`). No code: `engine.world`
finds the files beside this module."""
