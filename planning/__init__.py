"""Writes that span apps, composed in one place above them.

"Create a task with a recurrence and reminders" touches three owners: `tasks_app` writes the
task and its event, `recurrence_app` the series, `notifications_app` the reminders. Each app
keeps its own writes; this package calls them in one transaction, so the API answers with the
whole result or writes nothing, and a 400 from any of them leaves no half-made task behind.

Why a composition layer and not events for these: the caller (REST, MCP) needs the ids and
the validation errors of all three in its answer, synchronously. What can follow later does
follow from events instead: instances the recurrence worker makes get their series'
reminders when the notifications worker consumes their created event.

Dependencies point down: adapters (REST views here, `chatbot_app`) -> `planning` ->
`notifications_app` -> `recurrence_app` -> `tasks_app` -> `webapp`; import-linter checks it
(`make lint`). Lock order where a series and its tasks are both written: the series first.
"""
