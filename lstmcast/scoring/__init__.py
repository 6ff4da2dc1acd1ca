"""A trained model scored on prepared data, for the workflows to record: its test scores against the baselines and its
validation conformity scores (one series), per series and pooled (a panel), and a panel run's record and plots."""
