'use strict';
// Runs web-push-testing's server on 127.0.0.1 and a free port, for the tests.
// Its `start` CLI is not used: it listens on every interface and detaches.
// Usage: node webpush_testing_launcher.js <path to node_modules/web-push-testing>
// Prints "Server running on port N" when ready; exits when its stdin closes.
const path = require('path');

const packageDir = path.resolve(process.argv[2] || path.join(__dirname, '..', '..', 'node_modules', 'web-push-testing'));
const WebPushTestingServer = require(path.join(packageDir, 'src', 'server.js'));
const {PushApiModel} = require(path.join(packageDir, 'src', 'PushApiModel.js'));

const model = new PushApiModel();
const server = new WebPushTestingServer(model, 0);
server.setRequestHandlers();

const listener = server._app.listen(0, '127.0.0.1', () => {
	const {port} = listener.address();
	// The constructor points notifyUrl at localhost:0; subscriptions must name the real origin.
	model.notifyUrl = 'http://127.0.0.1:' + port + '/notify/';
	console.log('Server running on port ' + port);
});
listener.on('error', err => {
	console.error(err);
	process.exit(1);
});

process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
