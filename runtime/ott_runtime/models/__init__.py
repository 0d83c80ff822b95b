"""Anomaly and risk models (DESIGN §5): LSTM forecaster, Transformer risk scorer, ensemble,
registry, training and evaluation. TensorFlow is imported only inside the functions that
need it, so importing this package (and `ottc --help`) stays cheap."""
