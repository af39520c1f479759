"""Race days end to end: the day's cards before the races, predictions with the active
prompt, the results after the last race, and the scoring of those predictions."""
