"""Where data comes in: files and databases (`load`), the rules a customers table
must meet (`rules`, for both engines), purchase logs turned into per-customer
features (`transactions`, in the database when it is one: `transactions_sql`),
customer ids (`ids`), the data dictionary (`labels`), the wording of data errors
(`messages`) and synthetic samples (`sample`, `sample_transactions`)."""
