// The `express-session-1.19` dev dependency is express-session@1.19 under another
// name (the version users migrate from); its API is typed like express-session.
declare module 'express-session-1.19' {
  import session = require('express-session');
  export = session;
}
