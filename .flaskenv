# Read by the `flask` command (python-dotenv): which app it runs, from any shell.
FLASK_APP=backend.app:create_app
