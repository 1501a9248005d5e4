"""`revops status` underneath: figures (the data and JSON contract), gather (reading the
sources at once), classify/summary/assemble (pure judgement) and prometheus (text output).
The verb itself, with its rendering, is revops.commands.status."""
