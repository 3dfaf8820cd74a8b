"""The keyboard demo: a seed-style LSTM LM compiled by litesmith, driven like a phone keyboard."""
