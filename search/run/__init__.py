"""Running a search: options and checks, the Tuner and its parts (sampler, scheduler, searcher,
trainable, resources), resume state, the plan and time estimate, the end of a search."""
