// A user's code against the shipped declarations: the entry point and its
// sessions are made by createCvmweb() and requestSession(), never by `new`.

import { Cvmweb, createCvmweb, Session } from '@cvmweb/core';

export async function use(): Promise<Session> {
  // @ts-expect-error the constructor is private: createCvmweb() makes the entry point
  new Cvmweb();
  // @ts-expect-error the constructor is private: requestSession() makes sessions
  new Session();
  // @ts-expect-error the internal factory is not in the shipped declarations
  Session.create;
  const cvmweb: Cvmweb = await createCvmweb();
  return cvmweb.requestSession('demo', 'secret');
}
