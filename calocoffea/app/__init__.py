"""The application layer: the ``calocoffea`` command line, the demo, the summary and the
report layout. Nothing in the library (the other ``calocoffea`` packages) imports it."""
