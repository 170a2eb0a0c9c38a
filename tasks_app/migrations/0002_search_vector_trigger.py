"""Keep tasks.search_vector current in the database, so bulk writes are indexed too.

A trigger rather than a generated column: array_to_string() is not IMMUTABLE.
Weights: title A, tags B, description C, so a title hit outranks a description hit.
"""

from django.db import migrations

CREATE = """
CREATE FUNCTION tasks_app_task_search_vector() RETURNS trigger AS $$
BEGIN
  NEW.search_vector :=
      setweight(to_tsvector('english', coalesce(NEW.title, '')), 'A')
   || setweight(to_tsvector('english', coalesce(array_to_string(NEW.tags, ' '), '')), 'B')
   || setweight(to_tsvector('english', coalesce(NEW.description, '')), 'C');
  RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER tasks_app_task_search_vector_trg
BEFORE INSERT OR UPDATE OF title, description, tags ON tasks_app_task
FOR EACH ROW EXECUTE FUNCTION tasks_app_task_search_vector();
"""

DROP = """
DROP TRIGGER IF EXISTS tasks_app_task_search_vector_trg ON tasks_app_task;
DROP FUNCTION IF EXISTS tasks_app_task_search_vector();
"""


class Migration(migrations.Migration):
    dependencies = [("tasks_app", "0001_initial")]

    operations = [migrations.RunSQL(CREATE, DROP)]
