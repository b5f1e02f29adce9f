"""Sentiment providers (NewsAPI, X, offline headlines with VADER, stub) and the registry."""
