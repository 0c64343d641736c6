"""A whole catalogue judged on Ray: files listed, worker actors, verdicts to Parquet.

``files`` lists what to judge and the key a rerun skips by; ``table`` is the Parquet layout;
``workers`` is the only module that imports Ray; ``run`` ties them and counts. Ray and pyarrow
come with the ``cluster`` extra and load only when ``streamchill catalogue`` runs.
"""
