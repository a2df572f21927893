"""Experiments: A/B tests of a clip's caption, title, hashtags, caption style, thumbnail or hook across accounts
and platforms, with a stopping rule fixed before the data; and highlight scoring that learns from what performed."""
