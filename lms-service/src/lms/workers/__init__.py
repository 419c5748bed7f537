"""Background work of the LMS: the inbox handlers and the close-of-business scheduler."""
