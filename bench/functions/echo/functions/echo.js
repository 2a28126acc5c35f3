// Returns the event unchanged.
exports.handler = async (event) => event;
