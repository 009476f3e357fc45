"""The supervisors' live view and the QA alert feed (`callqa dashboard`)."""
