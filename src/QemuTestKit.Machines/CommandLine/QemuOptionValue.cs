namespace QemuTestKit.Machines.CommandLine;

/// <summary>
/// Escaping for QEMU's option syntax (<c>key=value,key=value</c>): a comma inside a value is written twice, so a
/// file named <c>a,readonly=off.img</c> stays one value instead of becoming an extra option.
/// </summary>
public static class QemuOptionValue
{
    public static string Escape(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value.Contains('\n', StringComparison.Ordinal) || value.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException($"QEMU option values cannot contain a newline or NUL: '{value}'", nameof(value));
        }

        return value.Replace(",", ",,", StringComparison.Ordinal);
    }

    /// <summary>Joins key=value pairs, escaping every value. A null value emits the bare key (a flag such as <c>snapshot</c>).</summary>
    public static string Join(string head, IEnumerable<KeyValuePair<string, string?>> options)
    {
        var parts = new List<string>();
        if (!string.IsNullOrEmpty(head))
        {
            parts.Add(head);
        }

        foreach (var (key, value) in options)
        {
            if (key.Contains(',', StringComparison.Ordinal) || key.Contains('=', StringComparison.Ordinal))
            {
                throw new ArgumentException($"QEMU option keys cannot contain ',' or '=': '{key}'", nameof(options));
            }

            parts.Add(value is null ? key : $"{key}={Escape(value)}");
        }

        return string.Join(',', parts);
    }

    public static string Join(string head, params (string Key, string? Value)[] options)
        => Join(head, options.Select(o => new KeyValuePair<string, string?>(o.Key, o.Value)));
}
