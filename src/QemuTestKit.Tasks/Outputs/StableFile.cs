using System.Text;

namespace QemuTestKit.Tasks.Outputs;

/// <summary>
/// Generated files that keep their time stamp when their content is the same: a no-op build leaves them untouched, so
/// that what depends on them (incremental targets, a test run's up-to-date check) sees no change.
/// </summary>
internal static class StableFile
{
    /// <summary>Writes <paramref name="content"/> unless the file already holds exactly that; true when it wrote.</summary>
    public static bool WriteIfDifferent(string path, string content)
    {
        var bytes = Encoding.UTF8.GetBytes(content);
        try
        {
            if (File.Exists(path) && File.ReadAllBytes(path).AsSpan().SequenceEqual(bytes))
            {
                return false;
            }
        }
        catch (IOException)
        {
        }

        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temp = $"{path}.{Guid.NewGuid():N}.tmp";
        File.WriteAllBytes(temp, bytes);
        File.Move(temp, path, overwrite: true);
        return true;
    }
}
