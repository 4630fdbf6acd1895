"""D1: direction classifiers (LightGBM, CatBoost) on marts.fct_training_set, their honest validation,
artifacts and registry, and the daily scores the serving layer reads."""
