"""`refit`: a finished search's best configurations retrained on train + val, ensembled and
scored on the test split."""
