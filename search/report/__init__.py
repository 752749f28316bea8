"""Reading a search's records: leaderboard rows, tables and plots, parameter importances."""
