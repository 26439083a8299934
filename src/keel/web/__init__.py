"""The dashboard's Jinja2 templates and static assets, shipped inside the package."""
