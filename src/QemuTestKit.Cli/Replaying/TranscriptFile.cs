namespace QemuTestKit.Cli.Replaying;

/// <summary>
/// <c>replay --save-transcript FILE</c>: the bytes the replay printed, written whole or not at all (a temporary file in
/// the same directory, then a rename), so a reader never sees half a transcript and an old file is replaced at once.
/// </summary>
internal static class TranscriptFile
{
    /// <summary>The full path to write, checked before the replay starts so a typo does not cost a replay.</summary>
    public static string Check(string path)
    {
        var full = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(directory))
        {
            throw new ArgumentException($"--save-transcript {path}: directory '{directory}' does not exist; create it first");
        }

        if (Directory.Exists(full))
        {
            throw new ArgumentException($"--save-transcript {path}: '{full}' is a directory; name a file");
        }

        return full;
    }

    public static async Task WriteAsync(string path, byte[] bytes, CancellationToken ct)
    {
        var full = Check(path);
        var temporary = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            await using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 64 * 1024, useAsync: true))
            {
                await stream.WriteAsync(bytes, ct).ConfigureAwait(false);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temporary, full, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }
}
