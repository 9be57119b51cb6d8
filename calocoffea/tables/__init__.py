"""Derived tables shipped with calocoffea: the BDT resolution table (correctionlib JSON)
of :mod:`calocoffea.uncertainty`, regenerated with ``calocoffea resolution``."""
