"""How a version is trained: the feature pipeline (`pipeline`, `coded`,
`feature_spread`), choosing k and fitting KMeans (`selection`), naming and
describing segments (`naming`, `text_shares`), the stages every engine shares
(`stages`), one retrain end to end (`train`) and the Spark engine (`spark_engine`)."""
