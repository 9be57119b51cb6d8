"""Training of the DeepCalo CNN (optional ``train`` extra; torch is imported lazily)."""
