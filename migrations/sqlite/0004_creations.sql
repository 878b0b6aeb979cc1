-- What `create` has made so far for each declarative file (by its key): the SIDs of every
-- completed step, so that a re-run after a failure resumes and never creates a second bundle.
create table creations (
    key text primary key,
    account_sid text,
    -- Step name -> SID created (or adopted) by that step.
    state text not null,
    created_at integer not null,
    updated_at integer not null
);
