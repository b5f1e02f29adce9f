"""What a venue allows, in one place: the engine consults it before it submits an entry."""

from core.venue.rules import BREEZE_CASH, UNRESTRICTED, VENUE_RULES, VenueRules, venue_rules

__all__ = ["BREEZE_CASH", "UNRESTRICTED", "VENUE_RULES", "VenueRules", "venue_rules"]
