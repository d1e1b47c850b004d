"""Finding models on storage: what is in a repository, before anything is loaded."""
