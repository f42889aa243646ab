// Images are URLs in the bundle; the unit tests only need something to import.
module.exports = 'file-stub';
