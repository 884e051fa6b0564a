// Writes records that kafka-python's producer refuses to write (no key and no value, headers
// without a value) but any other Kafka client may, using Kafka's own Java client.
// Run with Java 17's source launcher: java -cp '<kafka jars>/*' RawProducer.java BOOTSTRAP TOPIC
// Reads one record a line from stdin: partition, key, value, headers, tab-separated.
// key and value: base64, "\N" for null, or (value only) "@big:N" for N bytes of 'x'.
// headers: "-" for none, else name=base64 or name=\N, comma-separated.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class RawProducer {
    static byte[] bytes(String field) {
        if (field.equals("\\N")) return null;
        if (field.startsWith("@big:")) {
            byte[] big = new byte[Integer.parseInt(field.substring(5))];
            Arrays.fill(big, (byte) 'x');
            return big;
        }
        return Base64.getDecoder().decode(field);
    }

    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.put("bootstrap.servers", args[0]);
        props.put("acks", "all");
        props.put("max.request.size", "8388608");
        props.put("key.serializer", ByteArraySerializer.class.getName());
        props.put("value.serializer", ByteArraySerializer.class.getName());
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props)) {
            String line;
            while ((line = in.readLine()) != null) {
                if (line.isBlank()) continue;
                String[] f = line.split("\t", -1);
                List<Header> headers = new ArrayList<>();
                if (!f[3].equals("-")) {
                    for (String pair : f[3].split(",")) {
                        String[] kv = pair.split("=", 2);
                        headers.add(new RecordHeader(kv[0], bytes(kv[1])));
                    }
                }
                ProducerRecord<byte[], byte[]> record = new ProducerRecord<>(
                    args[1], Integer.parseInt(f[0]), bytes(f[1]), bytes(f[2]), headers);
                RecordMetadata meta = producer.send(record).get();
                System.out.println(meta.partition() + "\t" + meta.offset());
            }
        }
    }
}
