"""Recommend new songs for a listener's favourites: neighbour indexes, the recommender, and (to come)
its offline evaluation."""
