"""coffea processors of calocoffea: Z->ee, Z->mumugamma and H->gammagamma."""
