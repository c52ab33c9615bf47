"""The job kit: what every application's commands share (errors and exit codes, options, model loading,
the main job's steps and chunk loop, the evaluate command). An app supplies its reader, its problem, its
row table and its report; see docs/architecture.md."""
