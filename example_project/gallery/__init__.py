"""The demo image host: folders, images, public galleries and the edge log."""
